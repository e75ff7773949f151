// Package lifeline ties a daemon's descendants to its life: when the daemon
// is SIGKILLed, every process it started dies too, daemonised grandchildren
// included.
//
// Call Enter first thing in main. Running as root, it re-executes the
// program (/proc/self/exe, same arguments and environment) as PID 1 of a new
// PID namespace and stays behind as a thin parent: it forwards SIGTERM,
// SIGINT and SIGHUP to the child and exits with the child's status. The
// child has a parent-death signal of SIGKILL, and when a namespace's PID 1
// dies the kernel kills everything in the namespace. Inside, the program
// (the supervisor) is PID 1 and reaps orphans.
//
//	func main() {
//		if err := lifeline.Enter(); err != nil {
//			log.Printf("warning: %v; unit processes may outlive fleetd", err)
//		}
//		... // the real program, now inside the namespace when possible
//	}
//
// Without root, or where CLONE_NEWPID is refused, Enter returns an error and
// the program runs in-process; units then only have the parent-death signal
// of their direct processes. Set FLOTILLA_LIFELINE=0 to skip the namespace.
// The child also gets a mount namespace (host mounts propagate in, its own
// do not propagate out) with a /proc of the new PID namespace, so that the
// pids fork returns mean the same in /proc (netns lookups by pid need that).
//
// The outer process is also a watchdog that does not freeze with the
// program. It holds the read end of a pipe whose write end the child
// inherits (named by FLOTILLA_LIFELINE_WATCHDOG, made close-on-exec inside
// so units never see it). Alive(deadline) writes one 8-byte CLOCK_MONOTONIC
// instant (0 disarms); when an armed deadline passes with no newer one, the
// outer process logs why, SIGKILLs the child (a stopped one too), the
// kernel kills every process of the namespace with it, and the outer
// process exits with WatchdogExit (1) so that a supervisor's
// Restart=on-failure starts the program again. fleetd's agent arms it after
// every answered renewal with the renewal's kill deadline and disarms it
// when fenced: a SIGSTOPped or deadlocked agent cannot leave its units
// running after its lease expires. Nothing wakes the outer process but
// those writes.
//
// Lifeline owns the process's first moments only: it must not be called
// after other goroutines have started children, and it keeps one locked OS
// thread for the life of the outer process (the parent-death signal fires
// when the thread that forked exits, so that thread must never exit).
package lifeline
