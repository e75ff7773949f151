package payload

import (
	"fmt"
	"strings"

	"golang.org/x/mod/semver"
)

// ValidVersion reports whether v is a semantic version without a "v"
// prefix, such as 1.2.0 or 1.3.0-rc.1. Build metadata (+...) is refused:
// systemd-boot's boot counter is the "+N" at the end of the UKI's name.
func ValidVersion(v string) bool {
	return v != "" && v[0] != 'v' && !strings.Contains(v, "+") && semver.IsValid("v"+v) && hasThreeParts(v)
}

// hasThreeParts refuses semver's shorthands ("1", "1.2"): a payload names
// its version in full.
func hasThreeParts(v string) bool {
	dots := 0
	for _, c := range v {
		if c == '-' || c == '+' {
			break
		}
		if c == '.' {
			dots++
		}
	}
	return dots == 2
}

// Compare orders two versions as semver: -1, 0 or +1. An invalid version
// is smaller than every valid one (as golang.org/x/mod/semver).
func Compare(a, b string) int {
	return semver.Compare("v"+a, "v"+b)
}

// checkUpgrade says whether moving from current to next is allowed: next must
// be newer, unless force (then only equal is refused, as there is nothing to do).
func checkUpgrade(current, next string, force bool) error {
	c := Compare(next, current)
	switch {
	case c == 0:
		return fmt.Errorf("version %s is the one already running: nothing to do", next)
	case c < 0 && !force:
		return fmt.Errorf("version %s is older than the running %s: a downgrade is refused unless forced", next, current)
	}
	return nil
}
