#!/usr/bin/env bash
# The Debian packages the ARM targets' tests and `snnc run` need: cross compilers and QEMU
# (Cortex-M4 under qemu-system-arm, aarch64 under qemu-user). Installs only what is missing;
# without root or apt-get it says what to install and exits non-zero.
set -euo pipefail
need=()
check() { command -v "$1" >/dev/null 2>&1 || need+=("$2"); }
check arm-none-eabi-gcc gcc-arm-none-eabi
check qemu-system-arm qemu-system-arm
check qemu-aarch64 qemu-user
check aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu
check cc gcc
# Headers and C libraries the compilers need (no program to probe: look for a file).
[ -e /usr/lib/arm-none-eabi/newlib/libc.a ] || [ -e /usr/lib/arm-none-eabi/lib/libc.a ] || need+=(libnewlib-arm-none-eabi)
[ -e /usr/aarch64-linux-gnu/include/stdio.h ] || need+=(libc6-dev-arm64-cross)
if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi
echo "installing: ${need[*]}" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
        echo "error: need root to install ${need[*]} (apt-get install -y ${need[*]})" >&2
        exit 1
    fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: no apt-get: install ${need[*]} (Debian package names) by other means" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
