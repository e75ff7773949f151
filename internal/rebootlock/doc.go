// Package rebootlock coordinates OS-update reboots across the cluster, as
// locksmith did for CoreOS: a node reboots only while it holds a slot of the
// cluster's reboot semaphore, only when etcd keeps its quorum without it,
// and only after its units have moved elsewhere.
//
// The updater drives it, in this order:
//
//	CanReboot(ctx, cli, name)         // refuse: quorum, unhealthy members
//	Acquire(ctx, cli, machine)        // a semaphore slot (reboot/max, default 1)
//	Drain(ctx, cli, machine)          // units move away (bounded: DrainTimeout)
//	... reboot; while down, nothing renews the holder's lease ...
//	Refresh(ctx, cli, machine)        // on the new boot, every minute or so
//	Healthy(ctx, cli, HealthCheck{})  // fleetd answers, machine registered, etcd has a leader
//	Undrain, Release                  // once healthy (then bless the entry)
//
// # Holding the lock across a reboot
//
// A holder key (registry.RebootHolderKey) is put on a lease of its own,
// granted by Acquire with HolderTTL (10 minutes), not on fleetd's short
// machine lease: the key must outlive the reboot itself, during which no
// process of the node renews anything. The new boot finds its lease through
// the key (Refresh keeps the lease the key is attached to alive), so nothing
// about the lock is stored on the node. A node that never comes back stops
// renewing and loses the slot HolderTTL after its last renewal; a healthy
// node gives it back at once with Release, which revokes the lease. The
// drain mark is put on the same lease, so it cannot outlive a lost lock.
//
// Counting holders against max is one transaction (registry.TakeRebootSlot
// over a registry.ReadRebootLock): it compares the mod
// revision of reboot/max and of every holder key with the revision they
// were read at, so two nodes racing for the last slot cannot both win. A
// holder key vanishing in between (a lease expiring) only frees a slot.
//
// # Update status
//
// SetStatus writes the updater's state string to update/<machine> (no
// lease: the last state stays readable while the node reboots); the
// registry fills MachineRecord.Update from it, so the API and
// `fleetctl list-machines --fields machine,version,update` show it next to
// the Version fleetd registers.
//
// The package owns the policy; the key layout and every etcd read and write
// are internal/registry's (the *clientv3.Client it takes is handed to
// registry.New; only the member health checks call etcd's cluster and
// maintenance APIs here). It never reboots anything itself.
package rebootlock
