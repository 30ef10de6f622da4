import { expect, test } from 'appwright';

test('a registered user logs in with email and password', async ({ device }) => {
  await device.getByText('Log in').tap();
  await device.getByPlaceholder('Email').fill('qa@example.com');
  await device.getByPlaceholder('Password').fill(process.env.QA_PASSWORD ?? 'correct horse');
  await device.getByText('Sign in').tap();
  await expect(device.getByText('Home')).toBeVisible();
});

test('a wrong password shows an error and keeps the user on the login screen', async ({ device }) => {
  await device.getByText('Log in').tap();
  await device.getByPlaceholder('Email').fill('qa@example.com');
  await device.getByPlaceholder('Password').fill('wrong');
  await device.getByText('Sign in').tap();
  await expect(device.getByText('Incorrect email or password')).toBeVisible();
});
