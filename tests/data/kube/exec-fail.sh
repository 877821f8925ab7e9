#!/bin/sh
# A fake exec credential plugin for test_kube_config that fails like a real one would.
echo "starting login" >&2
echo "error: you must log in first" >&2
exit 2
