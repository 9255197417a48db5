package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/boomerang-dev/boomerang/tenant"
)

const devTenantID = "ten_dev"

// devTenant creates the dev tenant on first start and returns its
// credentials, which are kept in the data dir so later starts can print them.
func (m *Main) devTenant(ctx context.Context, admin *tenant.Service) (tenant.Credentials, error) {
	path := filepath.Join(m.Config.DataDir, "dev-credentials.json")
	creds, err := admin.CreateWithID(ctx, devTenantID, "dev")
	switch {
	case err == nil:
	case errors.Is(err, tenant.ErrExists):
		if data, rerr := os.ReadFile(path); rerr == nil && json.Unmarshal(data, &creds) == nil {
			return creds, nil
		}
		// The file is gone: issue a fresh key for the existing tenant.
		key, _, kerr := admin.CreateKey(ctx, devTenantID, "dev")
		if kerr != nil {
			return creds, kerr
		}
		secrets, serr := m.tenants.SigningSecrets(devTenantID)
		if serr != nil || len(secrets) == 0 {
			return creds, fmt.Errorf("dev tenant secret: %v", serr)
		}
		creds = tenant.Credentials{TenantID: devTenantID, APIKey: key, SigningSecret: secrets[0].String()}
	default:
		return creds, err
	}
	data, _ := json.MarshalIndent(creds, "", "  ")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return creds, fmt.Errorf("save dev credentials: %w", err)
	}
	return creds, nil
}

func (m *Main) printDevBanner(creds tenant.Credentials, signInToken string) {
	base := m.publicBase()
	fmt.Fprintf(m.Stdout, `
Boomerang is running in development mode on %[1]s

  tenant id       %[2]s
  API key         %[3]s
  signing secret  %[4]s

  dashboard       %[1]s/signin?token=%[5]s
                  (a one-time sign-in link, valid for 15 minutes)
  echo target     %[1]s/dev/echo      (?fail=2 fails twice, ?status=500, ?delay=2s)
  webhook inbox   %[1]s/dev/inbox     (the dashboard's Inbox shows what arrived, live)
  API reference   %[1]s/docs

  export BOOMERANG_API_KEY=%[3]s

`, base, creds.TenantID, creds.APIKey, creds.SigningSecret, signInToken)
}
