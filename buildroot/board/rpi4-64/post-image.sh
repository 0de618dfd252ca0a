#!/usr/bin/env bash
# Post-image script of the Raspberry Pi 4 board (BR2_ROOTFS_POST_IMAGE_SCRIPT):
# makes sdcard.img with genimage (the tryboot A/B layout of
# genimage.cfg.in, slot A holding this build, slot B free), gives the
# slots the GPT labels systemd-sysupdate matches, and puts this build's
# update payloads in update/: boot.vfat (the boot partition) and
# rootfs.img.gz (the root, gzipped; systemd-import inflates it), for
# twincap-bundle (scripts/update-bundle with UPDATE_BOOT).
set -euo pipefail
board_dir=$(cd "$(dirname "$0")" && pwd)
: "${BINARIES_DIR:?}" "${BUILD_DIR:?}" "${TARGET_DIR:?}"
fail() { echo "twincap post-image: $*" >&2; exit 1; }

# The version post-build.sh wrote: the slot's labels and the command line.
version=$(sed -n 's/^IMAGE_VERSION=//p' "$TARGET_DIR/usr/lib/os-release" | tr -d '"')
[ -n "$version" ] || fail "no IMAGE_VERSION in the target's os-release: did post-build.sh run?"
console="console=ttyAMA0,115200 console=tty1"
echo "root=PARTLABEL=twincap_$version rootfstype=ext4 rootwait $console" > "$BINARIES_DIR/cmdline.txt"
cp "$board_dir/autoboot.txt" "$BINARIES_DIR/autoboot.txt"

# The boot slot gets the DTBs, the firmware (with overlays), the kernel
# and the command line above.
files=()
for f in "$BINARIES_DIR"/*.dtb "$BINARIES_DIR"/rpi-firmware/*; do
  [ -e "$f" ] || continue
  case ${f##*/} in cmdline.txt) continue ;; esac
  files+=("${f#"$BINARIES_DIR"/}")
done
kernel=$(sed -n 's/^kernel=//p' "$BINARIES_DIR/rpi-firmware/config.txt")
files+=("${kernel:-Image}" cmdline.txt)
# One quoted name a line, commas between (no trailing comma: older
# libconfuse refuses one).
boot_files=$(printf '"%s",\\n\\t\\t\\t' "${files[@]}")
boot_files=${boot_files%,\\n\\t\\t\\t}
sed -e "s|#BOOT_FILES#|$boot_files|" "$board_dir/genimage.cfg.in" > "$BINARIES_DIR/genimage.cfg"

# genimage copies its root path; the root file system is already made.
rootpath=$(mktemp -d)
trap 'rm -rf "$rootpath"' EXIT
rm -rf "$BUILD_DIR/genimage.tmp"
genimage --rootpath "$rootpath" --tmppath "$BUILD_DIR/genimage.tmp" \
  --inputpath "$BINARIES_DIR" --outputpath "$BINARIES_DIR" --config "$BINARIES_DIR/genimage.cfg"

# The labels 40-root.conf and 60-boot.conf match: slot A holds this
# version, slot B is free. sfdisk is host-util-linux's (host-e2fsprogs,
# which the ext4 root needs, selects it).
card="$BINARIES_DIR/sdcard.img"
sfdisk -q --part-label "$card" 2 "twincap-boot_$version"
sfdisk -q --part-label "$card" 3 _empty
sfdisk -q --part-label "$card" 4 "twincap_$version"
sfdisk -q --part-label "$card" 5 _empty

mkdir -p "$BINARIES_DIR/update"
cp "$BINARIES_DIR/boot.vfat" "$BINARIES_DIR/update/boot.vfat"
gzip -n -6 -c "$BINARIES_DIR/rootfs.ext4" > "$BINARIES_DIR/update/rootfs.img.gz"
echo "twincap post-image: $card (slot A: $version), update payloads in $BINARIES_DIR/update/"
