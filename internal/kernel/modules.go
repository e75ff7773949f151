package kernel

// StorageModules drive real disks (SATA, NVMe). Init loads them only when
// the boot disk has not shown up after BootModules: probing an AHCI
// controller costs most of a second under QEMU without KVM, for nothing when
// the disk is virtio.
var StorageModules = []string{"ahci", "sd_mod", "nvme"}

// BootModules are the modules a Flotilla node loads at boot, for Debian's
// kernel (which builds them as modules, not in). Closure adds their
// dependencies. Init tolerates a module that finds no hardware (ENODEV).
var BootModules = []string{
	// Devices: QEMU's virtio (real disks: StorageModules).
	"virtio_pci", "virtio_blk", "virtio_net", "virtio_rng", "virtio_console",
	"qemu_fw_cfg",
	// File systems: slots (squashfs), STATE (ext4), ESP (vfat and the
	// code pages FAT mounts default to), EFI variables, container layers.
	"squashfs", "ext4", "vfat", "nls_cp437", "nls_ascii", "nls_utf8",
	"efivarfs", "overlay",
	// The slot's root is read through dm-verity (internal/devmapper).
	"dm_verity",
	// Container networking: internal/netbridge's veth pairs on a bridge,
	// and its nftables table (family ip): nat base chains (nft_chain_nat),
	// dnat (nft_nat), masquerade (nft_masq), ct status (nft_ct) and
	// fib daddr type (nft_fib_ipv4). meta, cmp, payload, bitwise,
	// immediate and verdicts are in nf_tables itself.
	"veth", "bridge", "tun",
	"nf_tables", "nft_chain_nat", "nft_nat", "nft_masq", "nft_ct", "nft_fib_ipv4",
	// The cluster network's vxlan backend (internal/clusternet).
	"vxlan",
}
