#!/bin/sh
# install_test.sh SOURCE_DIR BUILD_DIR WORK_DIR: installs the build into a
# prefix, builds examples/installed against it and runs its host; builds the
# plugin-only project with spdlog and cpp-httplib hidden; and checks that a
# component whose dependency is missing fails with a message naming it.
set -e
src=$1 build=$2 work=$3
rm -rf "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$src/examples/installed" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/build" -j 2 >/dev/null
out=$("$work/build/host" "$work/build/plugins")
test "$out" = "installed!"
echo "installed tree works: $out"

# A plugin project sees neither spdlog (CMake) nor cpp-httplib (pkg-config).
mkdir -p "$work/empty-pkgconfig"
PKG_CONFIG_LIBDIR="$work/empty-pkgconfig" PKG_CONFIG_PATH="" \
  cmake -S "$src/examples/installed/plugin-only" -B "$work/plugin-only" -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_DISABLE_FIND_PACKAGE_spdlog=ON >/dev/null
cmake --build "$work/plugin-only" -j 2 >/dev/null
caps=$("$work/plugin-only/plugins/plugin-shout" capabilities)
case "$caps" in
  *'"name":"shout"'*) echo "plugin-only project works without spdlog and cpp-httplib" ;;
  *) echo "plugin-only plugin answered capabilities with: $caps" >&2; exit 1 ;;
esac

# Asking for the daemon without cpp-httplib fails, and says what to install.
mkdir -p "$work/wants-daemon"
cat > "$work/wants-daemon/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.22)
project(wants-daemon LANGUAGES CXX)
find_package(plugvisor REQUIRED COMPONENTS daemon)
CMAKE
if PKG_CONFIG_LIBDIR="$work/empty-pkgconfig" PKG_CONFIG_PATH="" \
  cmake -S "$work/wants-daemon" -B "$work/wants-daemon/build" -DCMAKE_PREFIX_PATH="$work/prefix" \
  >"$work/wants-daemon.log" 2>&1; then
  echo "find_package(plugvisor COMPONENTS daemon) succeeded without cpp-httplib" >&2; exit 1
fi
grep -q "plugvisor::daemon needs cpp-httplib" "$work/wants-daemon.log" || {
  echo "the failure does not name cpp-httplib:" >&2; cat "$work/wants-daemon.log" >&2; exit 1; }
echo "a missing dependency is named: $(grep -o 'plugvisor::daemon needs cpp-httplib[^(]*' "$work/wants-daemon.log" | head -1)"

# An unknown component is refused by name.
sed -i 's/COMPONENTS daemon/COMPONENTS sdk nope/' "$work/wants-daemon/CMakeLists.txt"
rm -rf "$work/wants-daemon/build"
if cmake -S "$work/wants-daemon" -B "$work/wants-daemon/build" -DCMAKE_PREFIX_PATH="$work/prefix" \
  >"$work/wants-nope.log" 2>&1; then
  echo "find_package(plugvisor COMPONENTS nope) succeeded" >&2; exit 1
fi
grep -q "no component 'nope'" "$work/wants-nope.log" || {
  echo "the failure does not name the component:" >&2; cat "$work/wants-nope.log" >&2; exit 1; }
echo "an unknown component is named"
