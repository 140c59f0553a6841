// A real OpenID Connect provider (panva/oidc-provider, certified) for FlowUI's single sign-on
// tests. Usage: node provider.js CONFIG.json — CONFIG holds {port, client: {client_id,
// client_secret, redirect_uris}, accounts: {<login>: {email, name, groups}}}. It listens on
// 127.0.0.1 only and prints "listening <issuer>" once it answers.
import { generateKeyPair, exportJWK } from 'jose';
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const issuer = `http://127.0.0.1:${config.port}`;
const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const signingKey = { ...(await exportJWK(privateKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [
    {
      ...config.client,
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: ['flowui-test-provider-cookies'] },
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  // The development login page takes any login; only the accounts of the config exist.
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    const account = config.accounts[id];
    if (account === undefined) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, email_verified: true, ...account };
      },
    };
  },
});
// Quiet: errors are for the test's own assertions, not the console.
provider.on('server_error', (ctx, error) => console.error('server_error', error));

provider.listen(config.port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});
