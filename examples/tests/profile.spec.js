import { expect, test } from 'appwright';

test('a user edits their display name', async ({ device }) => {
  await device.getByText('Profile').tap();
  await device.getByText('Edit').tap();
  await device.getByPlaceholder('Display name').fill('QA Robot');
  await device.getByText('Save').tap();
  await expect(device.getByText('QA Robot')).toBeVisible();
});
