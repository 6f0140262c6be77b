// provider.mjs runs a real OpenID provider (panva's oidc-provider, OpenID-certified) on
// 127.0.0.1 for the tests: `node tests/oidc/provider.mjs <config.json>`.
//
// The Python side (tests/oidc_provider.py) writes the configuration: the port, the clients,
// the accounts and their claims, which scope releases which claims, the assurance levels
// (acr) and the private signing keys. Everything else is oidc-provider's standard behaviour:
// the authorization code flow, PKCE (S256), scope claims at the userinfo endpoint rather than
// in the ID token (conformIdTokenClaims), the claims parameter, RP-initiated logout.
//
// What the tests add, all of it in this file:
//   /interaction/<uid>  finishes every sign-in at once, as the plan for the next sign-in says
//                       (which account, which acr, or a cancelled sign-in): no pages, no consent.
//   /_test/...          control for the tests only: POST next, tamper, accounts, reset; GET seen.
//   a token-endpoint middleware that changes the next ID token (claims replaced or removed,
//   re-signed with the provider's own key or another one) and a userinfo one that changes the
//   next userinfo answer, so that a test can show the client refuses them.
//
// It prints "ready <port>" once it listens and exits on SIGTERM, SIGINT or when its stdin
// closes, so that a test run that dies leaves no node process behind.

import { readFileSync } from 'node:fs';
import process from 'node:process';

import * as jose from 'jose';
import Provider from 'oidc-provider';

// oidc-provider 9 uses URL.parse and more of Node.js 20.19 (Debian 12's own nodejs is 18).
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  process.stderr.write(`oidc-provider 9 needs Node.js 20.19 or later; this is ${process.version}\n`);
  process.exit(2);
}

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const issuer = `http://127.0.0.1:${config.port}`;

/** accounts maps an account id (the `sub`) to its claims; the tests may change it at run time. */
let accounts = structuredClone(config.accounts);

/** plan is what the next sign-ins do until a test changes it (sticky). */
let plan = { account: null, acr: null, deny: false };

/** tamper holds the changes for the next ID token and the next userinfo answer (each used once). */
let tamper = { idToken: null, userinfo: null };

/** seen is what the provider was asked, for the tests' assertions. */
let seen = emptySeen();

function emptySeen() {
  return { authorization: [], token: [], userinfo: [], end_session: [], signed_out: [] };
}

const ownKey = config.jwks.keys[0];
const otherKey = config.other_jwk;

function page(title, body) {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head>`
    + `<body><main><h1>${title}</h1>${body}</main></body></html>`;
}

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const provider = new Provider(issuer, {
  clients: config.clients,
  jwks: config.jwks,
  cookies: { keys: config.cookie_keys },
  claims: config.claims,
  acrValues: config.acr_values,
  async findAccount(ctx, sub) {
    if (!Object.hasOwn(accounts, sub)) {
      return undefined;
    }
    return {
      accountId: sub,
      async claims() {
        return { ...accounts[sub], sub };
      },
    };
  },
  features: {
    devInteractions: { enabled: false },
    claimsParameter: { enabled: true },
    userinfo: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      async logoutSource(ctx, form) {
        ctx.body = page(
          `Do you want to sign-out from ${escape(ctx.host)}?`,
          `${form}<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">`
          + 'Yes, sign me out</button>'
          + '<button type="submit" form="op.logoutForm">No, stay signed in</button>',
        );
      },
      async postLogoutSuccessSource(ctx) {
        ctx.body = page('Sign-out Success', '<p>Your sign-out was successful.</p>');
      },
    },
  },
  // A region's provider asks every client for PKCE, not only public ones.
  pkce: { required: () => true },
  interactions: {
    url: (ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page(
      'oops! something went wrong',
      Object.entries(out).map(([k, v]) => `<pre><strong>${escape(k)}</strong>: ${escape(v)}</pre>`).join(''),
    );
  },
});

async function readJson(ctx) {
  const chunks = [];
  for await (const chunk of ctx.req) {
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

/** finishSignIn answers an interaction at once, as the plan says. */
async function finishSignIn(ctx) {
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { params } = details;
  if (plan.deny) {
    return provider.interactionResult(ctx.req, ctx.res, {
      error: 'access_denied',
      error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
  }
  const accountId = plan.account ?? Object.keys(accounts)[0];
  let acr = plan.acr;
  if (acr === null || acr === undefined) {
    acr = params.acr_values ? String(params.acr_values).split(' ')[0] : undefined;
  }
  const grant = new provider.Grant({ accountId, clientId: params.client_id });
  grant.addOIDCScope(String(params.scope));
  if (params.claims) {
    const requested = JSON.parse(String(params.claims));
    for (const where of ['id_token', 'userinfo']) {
      if (requested[where]) {
        grant.addOIDCClaims(Object.keys(requested[where]));
      }
    }
  }
  const grantId = await grant.save();
  return provider.interactionResult(ctx.req, ctx.res, {
    login: { accountId, ...(acr ? { acr } : {}) },
    consent: { grantId },
  }, { mergeWithLastSubmission: false });
}

/** tamperIdToken changes claims of a signed ID token and signs it again (own or other key). */
async function tamperIdToken(idToken, change) {
  const [headerPart, payloadPart] = idToken.split('.');
  const header = JSON.parse(Buffer.from(headerPart, 'base64url').toString('utf8'));
  const payload = JSON.parse(Buffer.from(payloadPart, 'base64url').toString('utf8'));
  Object.assign(payload, change.claims ?? {});
  for (const name of change.remove ?? []) {
    delete payload[name];
  }
  const jwk = change.key === 'other' ? otherKey : ownKey;
  const key = await jose.importJWK(jwk, header.alg);
  return new jose.CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader(header)
    .sign(key);
}

/** clientAuthMethod tells how a token request authenticated its client, from what it sent. */
function clientAuthMethod(ctx, body) {
  if (ctx.get('authorization').toLowerCase().startsWith('basic ')) {
    return 'client_secret_basic';
  }
  if (body.client_assertion) {
    return 'client_assertion';
  }
  if (body.client_secret) {
    return 'client_secret_post';
  }
  return 'none';
}

function basicClientId(ctx) {
  const [scheme, value] = ctx.get('authorization').split(' ');
  if (scheme?.toLowerCase() !== 'basic' || !value) {
    return undefined;
  }
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  return decodeURIComponent(decoded.slice(0, decoded.indexOf(':')).replace(/\+/g, '%20'));
}

async function control(ctx) {
  const route = `${ctx.method} ${ctx.path}`;
  switch (route) {
    case 'POST /_test/next': {
      const body = await readJson(ctx);
      plan = { account: body.account ?? null, acr: body.acr ?? null, deny: Boolean(body.deny) };
      ctx.body = plan;
      return;
    }
    case 'POST /_test/tamper': {
      const body = await readJson(ctx);
      if (body.userinfo) {
        tamper.userinfo = body;
      } else {
        tamper.idToken = body;
      }
      ctx.body = tamper;
      return;
    }
    case 'POST /_test/accounts': {
      const body = await readJson(ctx);
      Object.assign(accounts, body);
      for (const [id, claims] of Object.entries(body)) {
        if (claims === null) {
          delete accounts[id];
        }
      }
      ctx.body = accounts;
      return;
    }
    case 'POST /_test/reset':
      plan = { account: null, acr: null, deny: false };
      tamper = { idToken: null, userinfo: null };
      accounts = structuredClone(config.accounts);
      seen = emptySeen();
      ctx.body = { reset: true };
      return;
    case 'GET /_test/seen':
      ctx.body = seen;
      return;
    default:
      ctx.status = 404;
      ctx.body = { error: `no such test route: ${route}` };
  }
}

provider.use(async (ctx, next) => {
  if (ctx.path.startsWith('/_test/')) {
    await control(ctx);
    return;
  }
  if (ctx.method === 'GET' && ctx.path.startsWith('/interaction/')) {
    ctx.redirect(await finishSignIn(ctx));
    return;
  }
  if (ctx.path === '/auth') {
    const q = ctx.method === 'GET' ? ctx.query : {};
    seen.authorization.push({
      client_id: q.client_id ?? null,
      response_type: q.response_type ?? null,
      scope: q.scope ?? null,
      redirect_uri: q.redirect_uri ?? null,
      acr_values: q.acr_values ?? null,
      claims: q.claims ? JSON.parse(q.claims) : null,
      prompt: q.prompt ?? null,
      max_age: q.max_age ?? null,
      state: q.state !== undefined,
      nonce: q.nonce !== undefined,
      code_challenge: q.code_challenge !== undefined,
      code_challenge_method: q.code_challenge_method ?? null,
    });
  }
  if (ctx.path === '/session/end') {
    const q = ctx.method === 'GET' ? ctx.query : {};
    seen.end_session.push({
      client_id: q.client_id ?? null,
      id_token_hint: q.id_token_hint !== undefined,
      post_logout_redirect_uri: q.post_logout_redirect_uri ?? null,
      state: q.state !== undefined,
    });
  }
  await next();
  if (ctx.path === '/token' && ctx.method === 'POST') {
    const body = ctx.oidc?.body ?? {};
    seen.token.push({
      grant_type: body.grant_type ?? null,
      client_auth_method: clientAuthMethod(ctx, body),
      client_id: basicClientId(ctx) ?? body.client_id ?? null,
      client_id_in_body: body.client_id !== undefined,
      redirect_uri: body.redirect_uri ?? null,
      code_verifier: body.code_verifier !== undefined,
      status: ctx.status,
      error: ctx.body?.error ?? null,
    });
    if (ctx.status === 200 && ctx.body?.id_token && tamper.idToken) {
      ctx.body = { ...ctx.body, id_token: await tamperIdToken(ctx.body.id_token, tamper.idToken) };
      tamper.idToken = null;
    }
  }
  if (ctx.path === '/me') {
    if (ctx.status === 200 && ctx.body && tamper.userinfo) {
      const changed = { ...ctx.body, ...(tamper.userinfo.claims ?? {}) };
      for (const name of tamper.userinfo.remove ?? []) {
        delete changed[name];
      }
      ctx.body = changed;
      tamper.userinfo = null;
    }
    seen.userinfo.push({
      method: ctx.method,
      bearer: ctx.get('authorization').toLowerCase().startsWith('bearer '),
      status: ctx.status,
      claims: ctx.status === 200 && ctx.body ? Object.keys(ctx.body).sort() : [],
    });
  }
  if (ctx.path === '/session/end/confirm' && ctx.method === 'POST') {
    const body = ctx.oidc?.body ?? {};
    seen.signed_out.push({ logout: body.logout !== undefined, status: ctx.status });
  }
});

const server = provider.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`ready ${config.port}\n`);
});

function stop() {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}

process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
