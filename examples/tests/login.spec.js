import { expect, test } from 'appwright';

// Two tests in one file: each gets a fresh Appium session and cleared app data.
test('a registered user logs in with email and password', async ({ device }) => {
  await device.getByText('Log in').tap();
  await device.getById('com.example.shop:id/email', { exact: true }).fill('qa@example.com');
  await device
    .getById('com.example.shop:id/password', { exact: true })
    .fill(process.env.QA_PASSWORD ?? 'correct horse');
  await device.getByText('Sign in').tap();
  await expect(device.getByText('Home', { exact: true })).toBeVisible();
});

test('a wrong password shows an error and keeps the user on the login screen', async ({ device }) => {
  await device.getByText('Log in').tap();
  await device.getById('com.example.shop:id/email', { exact: true }).fill('qa@example.com');
  await device.getById('com.example.shop:id/password', { exact: true }).fill('wrong');
  await device.getByText('Sign in').tap();
  await expect(device.getByText('Incorrect email or password')).toBeVisible();
});
