export const DEFAULT_SERVER = 'http://localhost:8080';
