package tenant

import (
	"slices"
	"strings"
)

// Scope is something an API key may do. A key carries a set of them; a
// request that needs one its key lacks is refused (403
// insufficient-scope). Keys made before scopes existed, and keys made
// without naming any, carry every scope.
type Scope string

// The scopes. keys:admin and secrets:admin are the tenant's own
// administration: a key with keys:admin may make keys, though only with
// scopes it has itself.
const (
	// ScopeTasksRead reads tasks, their status, result and events, and
	// lists them.
	ScopeTasksRead Scope = "tasks:read"
	// ScopeTasksWrite creates, cancels and replays tasks.
	ScopeTasksWrite Scope = "tasks:write"
	// ScopeWebhooksWrite sends webhooks again, one task's or in bulk.
	ScopeWebhooksWrite Scope = "webhooks:write"
	// ScopeKeysAdmin lists, creates and revokes API keys.
	ScopeKeysAdmin Scope = "keys:admin"
	// ScopeSecretsAdmin rotates the signing secret.
	ScopeSecretsAdmin Scope = "secrets:admin"
)

// allScopes is every scope, in the order they are listed.
var allScopes = []Scope{ScopeTasksRead, ScopeTasksWrite, ScopeWebhooksWrite, ScopeKeysAdmin, ScopeSecretsAdmin}

// AllScopes returns every scope, in a fixed order.
func AllScopes() []Scope { return slices.Clone(allScopes) }

// Valid reports whether s is one of the scopes.
func (s Scope) Valid() bool { return slices.Contains(allScopes, s) }

// ScopeNames lists every scope's name, comma-separated: for messages.
func ScopeNames() string {
	names := make([]string, len(allScopes))
	for i, s := range allScopes {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// normalScopes returns scopes in the order of AllScopes, each once; nil
// (every scope) for none.
func normalScopes(scopes []Scope) []Scope {
	if len(scopes) == 0 {
		return nil
	}
	out := make([]Scope, 0, len(scopes))
	for _, s := range allScopes {
		if slices.Contains(scopes, s) {
			out = append(out, s)
		}
	}
	return out
}

// effectiveScopes returns what a key's recorded scopes allow: every scope
// when none is recorded.
func effectiveScopes(recorded []Scope) []Scope {
	if len(recorded) == 0 {
		return AllScopes()
	}
	return slices.Clone(recorded)
}

// Allows reports whether the principal may do what scope covers. Only an
// API key's principal carries scopes: a status token or a dashboard
// session has none (their routes check what they may do themselves).
func (p Principal) Allows(scope Scope) bool { return slices.Contains(p.Scopes, scope) }

// HasAllScopes reports whether the principal carries every scope.
func (p Principal) HasAllScopes() bool {
	for _, s := range allScopes {
		if !p.Allows(s) {
			return false
		}
	}
	return true
}
