#!/bin/sh
# install_test.sh SOURCE_DIR BUILD_DIR WORK_DIR: installs the build into a
# prefix, builds examples/installed against it, and runs its host.
set -e
src=$1 build=$2 work=$3
rm -rf "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$src/examples/installed" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" -j 2 >/dev/null
out=$("$work/build/host" "$work/build/plugins")
test "$out" = "installed!"
echo "installed tree works: $out"
