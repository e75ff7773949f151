// Package kernel finds the Debian kernel an image is built from and resolves
// kernel module names into the files an initramfs must carry.
//
// It reads only what Debian's linux-image package installs under a root
// directory: /boot/vmlinuz-<kver> and /lib/modules/<kver>/ (modules.dep,
// modules.builtin, modules.softdep, modules.alias). It never looks at the
// running kernel (uname): the build host's kernel is not the one we ship.
//
// Closure returns modules in load order, dependencies first, so init can
// finit_module(2) them one by one without modprobe:
//
//	k, err := kernel.Find("/")
//	mods, err := k.Closure(kernel.BootModules...)
//	for _, m := range mods {
//		fmt.Println(filepath.Join(k.ModulesDir, m.Path))
//	}
package kernel
