import { expect, test } from 'appwright';

test('dark mode can be switched on in settings', async ({ device }) => {
  await device.getByText('Profile').tap();
  await device.getByText('Settings').tap();
  await device.getByText('Dark mode').tap();
  await expect(device.getByText('Dark mode: on')).toBeVisible();
});
