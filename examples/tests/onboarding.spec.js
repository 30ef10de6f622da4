import { expect, test } from 'appwright';

test('a new user gets through onboarding to the home screen', async ({ device }) => {
  await expect(device.getByText('Welcome', { exact: true })).toBeVisible();
  await device.getByText('Get started').tap();
  await device.getByText('Allow notifications').tap();
  await expect(device.getByText('Home', { exact: true })).toBeVisible();
});
