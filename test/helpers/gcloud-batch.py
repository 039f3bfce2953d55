"""Runs many gcloud command lines in one Python process: gcloud's CLI is loaded once.

Started by test/helpers/gcloud-batch.ts through the `gcloud` wrapper script itself (its last line
pointed here instead of at lib/gcloud.py), so the interpreter, its flags and environment are the
ones `gcloud` would use. Each command line is a JSON array on stdin; each result, in order, is a
JSON line {"code": exit code, "stderr": what the command wrote to stderr} on file descriptor 3.
The CLI object and its Execute() are what gcloud's main() builds and calls (gcloud's own tests
run many commands on one CLI object the same way).

argv[1]: the SDK's lib folder (where gcloud.py sets up the vendored packages).
"""
import json
import os
import sys
import tempfile

sys.path.insert(0, sys.argv[1])
import gcloud  # noqa: E402  <sdk>/lib/gcloud.py: the vendored packages go on sys.path

sys.path = gcloud.reorder_sys_path(sys.path)
gcloud._fix_google_module()
from googlecloudsdk import gcloud_main  # noqa: E402

cli = gcloud_main.CreateCLI([])
results = os.fdopen(3, 'w')
real_stderr = os.dup(2)
for line in sys.stdin:
    args = json.loads(line)
    with tempfile.TemporaryFile() as captured:
        sys.stderr.flush()
        os.dup2(captured.fileno(), 2)
        try:
            cli.Execute(args, call_arg_complete=False)
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException as e:  # a crash is an outcome too: the test shows it
            sys.stderr.write('gcloud-batch: %s: %r\n' % (type(e).__name__, e))
            code = 70
        finally:
            sys.stderr.flush()
            os.dup2(real_stderr, 2)
        captured.seek(0)
        text = captured.read().decode('utf-8', 'replace')
    results.write(json.dumps({'code': code, 'stderr': text}) + '\n')
    results.flush()
