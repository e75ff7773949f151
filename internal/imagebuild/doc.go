// Package imagebuild turns the source tree into a bootable Flotilla OS,
// unprivileged and without loop devices: static Go binaries, the root
// squashfs of a slot, the initramfs, a unified kernel image, the ESP, the GPT
// disk, the update payload, and per-node first-boot configs with the
// cluster's PKI. image-build/main.go is its command line.
//
// Output layout (scripts outside the repo rely on it):
//
//	DIR/disk.img                 bootable GPT image; alone it boots a one-node cluster
//	DIR/payload/                 this version's UKI, root squashfs and manifest
//	DIR/client/                  ca.pem client.pem client-key.pem for fleetctl
//	DIR/node-K/                  with --nodes N: config.json and disk.img per node
//	DIR/boot/                    vmlinuz, initramfs.img, cmdline: the -kernel dev path
//	DIR/pki/                     the cluster CA (kept between builds)
//
// The same inputs and SOURCE_DATE_EPOCH give the same bytes for everything
// but the PKI, which is created once and then reused from DIR/pki.
package imagebuild
