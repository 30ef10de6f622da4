/** `qgjob-agent --help`: examples first, then every flag with its default. */
export const HELP = `qgjob-agent — runs qgjob test jobs on this host's emulators, phones and BrowserStack slots

Examples:
  # two emulators, AppWright tests in ./e2e, builds at ./e2e/builds/<app_version_id>.apk
  qgjob-agent --server=http://jobs.internal:8080 --token=$TOKEN \\
      --device=emulator:emulator-5554 --device=emulator:emulator-5556 --workdir=./e2e

  # a USB phone and two BrowserStack parallel sessions, failing over between two servers
  QGJOB_SERVER=http://a:8080,http://b:8080 qgjob-agent \\
      --device=device:R58M123 --device=browserstack:bs-1 --device=browserstack:bs-2

  # any test runner: placeholders are substituted shell-quoted (do not quote them again)
  qgjob-agent --server=http://localhost:8080 --device=emulator:emulator-5554 \\
      --executor=command --command='./run-test.sh {test_path} {device}'

  # a pretend farm for demos and benchmarks: no device needed
  qgjob-agent --server=http://localhost:8080 --executor=simulate \\
      --device=emulator:sim-1 --device=emulator:sim-2 --sim-test-ms=300 --sim-fail='flaky|broken'

Connection:
  --server=URL[,URL...]     job-server URL(s), tried in order (env QGJOB_SERVER)
  --token=TOKEN             API token (env QGJOB_TOKEN); never logged
  --name=NAME               agent name, unique per host (default: the hostname)

Devices (one flag per slot; a slot runs one test at a time):
  --device=TARGET:NAME      TARGET is emulator, device or browserstack; NAME is the adb serial
                            (emulator-5554, R58M123) or any slot name (bs-1)

Execution:
  --executor=NAME           appwright (default), command or simulate
  --workdir=DIR             where tests run and relative paths resolve (default: current directory)
  --test-timeout=DURATION   kill a test (its whole process group) after this long (default 15m)
  --app-path=TEMPLATE       where a build is: {app_version_id}, {target}, {org_id} are filled in,
                            relative to --workdir (env QGJOB_APP_PATH; default
                            builds/{app_version_id}.apk). An app version id that is a URL
                            (bs://...) is used as it is.
  --install-command=TEMPLATE  installs the build once per batch on emulators and phones
                            (default for appwright: adb -s {device} install -r {app_path};
                            command: none). Placeholders: {device} {app_path} {app_version_id} {target}.
                            BrowserStack slots never install: the bs:// URL goes to the test.
  --install-timeout=DURATION  kill an install after this long (default 10m)
  --grace=DURATION          on SIGTERM/SIGINT, how long running tests may finish (default 30s)

Builds and test sources from the server (qgjob app upload; qgjob submit's bundles):
  --cache-dir=DIR           where they are kept, by SHA-256 (env QGJOB_CACHE_DIR; default
                            $XDG_CACHE_HOME/qgjob or ~/.cache/qgjob). A registered build is
                            downloaded once, verified on every use, installed from here; a
                            job's test bundle is unpacked once and the test runs inside it.
  --cache-max-size=SIZE     trim the least recently used entries past this size (default 20GiB)
  --deps-command=COMMAND    installs a bundle's npm dependencies, once per lockfile (default
                            npm ci --no-audit --no-fund; npm install without a lockfile)
  --browserstack-api=URL    BrowserStack's REST API (default https://api-cloud.browserstack.com).
                            BROWSERSTACK_USERNAME and BROWSERSTACK_ACCESS_KEY (env only) let this
                            agent upload a build once per app version for every agent and read
                            the plan's parallel-session limit; they are never sent to the server.

  appwright: npx appwright test <test_path> --project <project> --workers 1 --retries 0, with
  CI=true. On emulators and phones the agent checks the device (adb get-state) and starts Appium
  for it once per batch; every session AppWright opens goes to that device (appium:udid set) and
  keeps the batch's install (noReset; the app's data is cleared before each test).
  --project=NAME            AppWright project (default: the device's target)
  --appium-command=COMMAND  starts Appium for one device, --address/--port appended
                            (default: npx appium, in the test's working directory)
  --appium-port=PORT        where AppWright dials Appium; the agent listens there (default 4723)
  --adb=PATH                the adb binary (default: adb on PATH)
  --local-parallel          start no Appium and route nothing: run emulator/phone tests of this
                            host at once, each test's config reaching an Appium of its own

  command: /bin/sh -c TEMPLATE; exit 0 = passed, other exit = failed
  --command=TEMPLATE        placeholders {test_path} {app_version_id} {device} {target}
                            {app_path} {org_id} {job_id} {batch_id}

  simulate: no device; verdicts depend only on the test path
  --sim-test-ms=N           each test takes N ms (default 500)
  --sim-install-ms=N        each install takes N ms (default 200)
  --sim-fail=REGEX          tests whose path matches fail; all others pass

Every test and install sees CI=true, QGJOB_APP_VERSION_ID, QGJOB_APP_PATH, QGJOB_DEVICE,
QGJOB_TARGET, QGJOB_ORG_ID, QGJOB_BATCH_ID, QGJOB_JOB_ID, QGJOB_TEST_PATH, QGJOB_ATTEMPT
(and ANDROID_SERIAL on emulators and phones); never QGJOB_TOKEN.

Other:
  --log-level=LEVEL         debug, info (default), warn, error (env LOG_LEVEL); logs go to stderr
                            as JSON lines, or plain text on a terminal
  -h, --help                this help
  --version                 the agent's version

Signals: SIGTERM or SIGINT stops claiming, lets running tests finish (up to --grace), hands
unstarted jobs back and exits 0; a second signal kills running tests and exits 130.
Exit codes: 0 stopped, 1 unexpected error, 2 bad flag, 4 the server refused the token.
`;
