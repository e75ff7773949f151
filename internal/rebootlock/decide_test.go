package rebootlock

import (
	"errors"
	"strings"
	"testing"
)

func TestDecide(t *testing.T) {
	up := func(name string) member { return member{name: name, urls: []string{"https://" + name + ":2379"}} }
	down := func(name string) member {
		m := up(name)
		m.err = errors.New("context deadline exceeded")
		return m
	}
	learner := func(m member) member { m.learner = true; return m }
	cases := []struct {
		name    string
		members []member
		self    string
		want    string // "" allows; else a part of the refusal
	}{
		{"three healthy voters", []member{up("n1"), up("n2"), up("n3")}, "n1", ""},
		{"another member down", []member{up("n1"), up("n2"), down("n3")}, "n1", "etcd member n3 (https://n3:2379) is unhealthy (context deadline exceeded)"},
		{"self down, others up: rebooting it costs nothing", []member{up("n1"), up("n2"), down("n3")}, "n3", ""},
		{"one voter has no quorum to keep", []member{up("n1")}, "n1", ""},
		{"two voters: either reboot loses quorum", []member{up("n1"), up("n2")}, "n1", "would leave 1 of 2 etcd voters up, and quorum needs 2"},
		{"a client node needs only healthy members", []member{up("n1"), up("n2")}, "c1", ""},
		{"a client node refuses with a member down", []member{up("n1"), down("n2")}, "c1", "n2"},
		{"learners are not voters", []member{up("n1"), up("n2"), up("n3"), learner(down("n4"))}, "n1", ""},
		{"five voters, self among them", []member{up("n1"), up("n2"), up("n3"), up("n4"), up("n5")}, "n2", ""},
		{"unstarted member", []member{up("n1"), up("n2"), {urls: []string{"https://n3:2380"}, err: errors.New("has not started")}}, "n1", "(unstarted, peer https://n3:2380) is unhealthy (has not started)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := decide(tc.members, tc.self)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("allowed; want a refusal containing %q", tc.want)
			case tc.want != "" && (!errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("refusal %q: want ErrUnsafe containing %q", err, tc.want)
			}
		})
	}
}
