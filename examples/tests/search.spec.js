import { expect, test } from 'appwright';

test('search finds a product by name', async ({ device }) => {
  await device.getByText('Get started').tap();
  await device.getByText('Allow notifications').tap();
  await device.getById('com.example.shop:id/search', { exact: true }).fill('t-shirt');
  await expect(device.getByText('Blue T-shirt')).toBeVisible();
  const results = await device.getById('com.example.shop:id/results', { exact: true }).getText();
  expect(results).toBe('1 result');
});
