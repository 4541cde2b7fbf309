/** @type {import('jest').Config} */
const base = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }],
  },
};

// One suite, two backends: the net, echo and stream suites run a second time on io_uring
// (test/fixtures/uring-environment.js sets POLLED_IO=uring for them and their child processes).
const URING_SUITES = [
  'net.tcp', 'net.unix', 'net.udp', 'net.emfile', 'net.address', 'echo', 'echo.server', 'echo.cli',
  'serve', 'io.bound', 'bufio', 'node-stream', 'shutdown', 'sharp-edges', 'thread-channel', 'workers',
];

module.exports = {
  projects: [
    { ...base, displayName: 'readiness' },
    {
      ...base,
      displayName: 'uring',
      testEnvironment: '<rootDir>/test/fixtures/uring-environment.js',
      testMatch: URING_SUITES.map((n) => `**/test/${n}.test.ts`),
    },
  ],
  // Network and child-process tests share a 2-core machine: keep workers few and give them time.
  maxWorkers: 2,
  testTimeout: 60000,
};
