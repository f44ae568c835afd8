package proxy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/opencis/cisauth/middleware"
)

// Rules are compiled access rules: for a path, the one rule whose Path
// matches it longest (ignoring ASCII case), and for a path no rule matches,
// "a CIS session, nothing more". Rules are immutable and safe for
// concurrent use.
type Rules struct {
	rules []compiledRule // longest path first
}

type compiledRule struct {
	path   string // as configured
	prefix bool   // path ends in "/": everything under it too
	public bool
	guards []*middleware.Guard
}

// CompileRules checks rules and compiles them: every path starts with "/"
// and is clean, no two paths are the same (ignoring case), a public rule
// has no conditions, and every code is well formed.
func CompileRules(rules []Rule) (*Rules, error) {
	out := &Rules{}
	seen := map[string]bool{}
	for i, r := range rules {
		where := fmt.Sprintf("rules[%d] (path %q)", i, r.Path)
		if !cleanPath(r.Path) {
			return nil, fmt.Errorf("%w: %s: want a clean path starting with /", ErrFile, where)
		}
		key := strings.ToLower(r.Path)
		if seen[key] {
			return nil, fmt.Errorf("%w: %s: the path has a rule already", ErrFile, where)
		}
		seen[key] = true
		cr := compiledRule{path: r.Path, prefix: strings.HasSuffix(r.Path, "/"), public: r.Public}
		conds := len(r.Activities) + len(r.AnyActivities) + len(r.JobRoles) + len(r.Orgs)
		if r.Public && conds > 0 {
			return nil, fmt.Errorf("%w: %s: a public rule cannot also require activities, job roles or organisations", ErrFile, where)
		}
		add := func(name string, codes []string, g *middleware.Guard) error {
			if len(codes) == 0 {
				return nil
			}
			if err := g.Err(); err != nil {
				return fmt.Errorf("%w: %s: %s: %w", ErrFile, where, name, err)
			}
			cr.guards = append(cr.guards, g)
			return nil
		}
		if err := add("activities", r.Activities, middleware.ActivityGuard(r.Activities...)); err != nil {
			return nil, err
		}
		if err := add("any_activities", r.AnyActivities, middleware.AnyActivityGuard(r.AnyActivities...)); err != nil {
			return nil, err
		}
		if err := add("job_roles", r.JobRoles, middleware.JobRoleGuard(r.JobRoles...)); err != nil {
			return nil, err
		}
		if err := add("orgs", r.Orgs, middleware.OrgGuard(r.Orgs...)); err != nil {
			return nil, err
		}
		out.rules = append(out.rules, cr)
	}
	slices.SortStableFunc(out.rules, func(a, b compiledRule) int { return len(b.path) - len(a.path) })
	return out, nil
}

// match returns the index of the rule for path, or -1.
func (rs *Rules) match(path string) int {
	for i := range rs.rules {
		r := &rs.rules[i]
		// "/admin/" also covers "/admin", and "/records" covers
		// "/records/": many servers serve both alike.
		base := strings.TrimSuffix(r.path, "/")
		switch {
		case strings.EqualFold(path, base),
			len(path) == len(base)+1 && path[len(base)] == '/' && strings.EqualFold(path[:len(base)], base):
			return i
		case r.prefix && len(path) > len(r.path) && strings.EqualFold(path[:len(r.path)], r.path):
			return i
		}
	}
	return -1
}

// Len is the number of rules.
func (rs *Rules) Len() int { return len(rs.rules) }
