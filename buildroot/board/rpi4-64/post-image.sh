#!/usr/bin/env bash
# Post-image script of the Raspberry Pi 4 board (BR2_ROOTFS_POST_IMAGE_SCRIPT):
# makes sdcard.img with genimage: the tryboot A/B layout of genimage.cfg.in,
# both slots holding the same build, a command line per slot.
set -euo pipefail
board_dir=$(cd "$(dirname "$0")" && pwd)
: "${BINARIES_DIR:?}" "${BUILD_DIR:?}"

# Fixed so each slot's cmdline.txt can name its root partition.
root_a=5f1c6a0e-7c3b-4b8e-9a51-0a7e2c1b0d01
root_b=5f1c6a0e-7c3b-4b8e-9a51-0a7e2c1b0d02
console="console=ttyAMA0,115200 console=tty1"
echo "root=PARTUUID=$root_a rootfstype=ext4 rootwait $console" > "$BINARIES_DIR/cmdline-a.txt"
echo "root=PARTUUID=$root_b rootfstype=ext4 rootwait $console" > "$BINARIES_DIR/cmdline-b.txt"
cp "$board_dir/autoboot.txt" "$BINARIES_DIR/autoboot.txt"

# Each boot slot gets the DTBs, the firmware (with overlays) and the kernel.
files=()
for f in "$BINARIES_DIR"/*.dtb "$BINARIES_DIR"/rpi-firmware/*; do
  [ -e "$f" ] || continue
  case ${f##*/} in cmdline.txt) continue ;; esac
  files+=("${f#"$BINARIES_DIR"/}")
done
kernel=$(sed -n 's/^kernel=//p' "$BINARIES_DIR/rpi-firmware/config.txt")
files+=("${kernel:-Image}")
# One quoted name a line, commas between (no trailing comma: older
# libconfuse refuses one).
boot_files=$(printf '"%s",\\n\\t\\t\\t' "${files[@]}")
boot_files=${boot_files%,\\n\\t\\t\\t}
sed -e "s|#BOOT_FILES#|$boot_files|" -e "s|#ROOT_A_UUID#|$root_a|" -e "s|#ROOT_B_UUID#|$root_b|" \
  "$board_dir/genimage.cfg.in" > "$BINARIES_DIR/genimage.cfg"

# genimage copies its root path; the root file system is already made.
rootpath=$(mktemp -d)
trap 'rm -rf "$rootpath"' EXIT
rm -rf "$BUILD_DIR/genimage.tmp"
genimage --rootpath "$rootpath" --tmppath "$BUILD_DIR/genimage.tmp" \
  --inputpath "$BINARIES_DIR" --outputpath "$BINARIES_DIR" --config "$BINARIES_DIR/genimage.cfg"
