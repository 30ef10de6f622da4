import { expect, test } from 'appwright';

test('a new user gets through onboarding to the home screen', async ({ device }) => {
  await expect(device.getByText('Welcome')).toBeVisible();
  await device.getByText('Get started').tap();
  await device.getByText('Continue').tap();
  await device.getByText('Allow notifications').tap();
  await expect(device.getByText('Home')).toBeVisible();
});
