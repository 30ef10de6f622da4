import { expect, test } from 'appwright';

test('search finds a product by name and opens it', async ({ device }) => {
  const search = device.getByText('Search');
  await search.tap();
  await search.fill('t-shirt');
  await expect(device.getByText('Blue T-shirt')).toBeVisible();
  await device.getByText('Blue T-shirt').tap();
  await expect(device.getByText('Add to cart')).toBeVisible();
});
