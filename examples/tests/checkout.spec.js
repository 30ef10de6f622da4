import { expect, test } from 'appwright';

test('a signed-in user buys one item with the saved card', async ({ device }) => {
  await device.getByText('Shop').tap();
  await device.getByText('Blue T-shirt').tap();
  await device.getByText('Add to cart').tap();
  await device.getByText('Cart').tap();
  await device.getByText('Checkout').tap();
  await device.getByText('Pay with saved card').tap();
  await expect(device.getByText('Order confirmed')).toBeVisible();
});
