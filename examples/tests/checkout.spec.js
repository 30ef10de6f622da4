import { expect, test } from 'appwright';

test('a shopper buys one item from the home screen', async ({ device }) => {
  await device.getByText('Get started').tap();
  await device.getByText('Allow notifications').tap();
  await device.getByText('Blue T-shirt').tap();
  await device.getByText('Add to cart').tap();
  await device.getById('com.example.shop:id/cart', { exact: true }).tap();
  await expect(device.getByText('1 item')).toBeVisible();
  await device.getByText('Checkout').tap();
  await expect(device.getByText('Order confirmed')).toBeVisible();
});
