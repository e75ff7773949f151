// Package units holds the unit files Flotilla ships and teaches with: the
// README's examples and tour (hello.service; web@.service, a container
// template spread by Conflicts; heartbeat.service, a Global unit;
// clock.service, placed by MachineMetadata). The OS's own services, fleetd
// and the updater, are not units: init's supervisor runs them.
//
// The package has no code; its test parses every file here as fleetd does
// on submit, so a unit that would be refused fails CI, and the three-VM
// test in qemu-test submits them all and runs the README's tour.
package units
