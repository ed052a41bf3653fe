// Sign-in against Cognito's JSON API (no SDK): InitiateAuth with USER_PASSWORD_AUTH, the
// NEW_PASSWORD_REQUIRED and SOFTWARE_TOKEN_MFA challenges, token refresh and sign-out.
// Tokens live in memory and in sessionStorage (this tab only; gone when the tab closes).

const TARGET_PREFIX = "AWSCognitoIdentityProviderService.";
const STORAGE_KEY = "gtpipe.labeling.session";
// Refresh a little before the ID token expires, so an API call never carries an expired token.
const EXPIRY_MARGIN_SECONDS = 60;

/** A Cognito error answer: `code` is the exception name (NotAuthorizedException, ...). */
export class CognitoError extends Error {
  constructor(code, message, status) {
    super(message || code);
    this.name = "CognitoError";
    this.code = code;
    this.status = status;
  }
}

/** The claims of a JWT (not verified: the API's authorizer verifies; the app only reads names). */
export function jwtClaims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const padded = part + "=".repeat((4 - (part.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return {};
  }
}

/**
 * When the ID token expires on this browser's clock (epoch s): now plus the token's lifetime (exp - iat,
 * else ExpiresIn). The claims' exp is on Cognito's clock, and a labeler's clock may be off from it by any
 * amount: hours behind, the app would keep sending an expired token; ahead, it would refresh on every call.
 */
export function localExpiry(claims, expiresIn, now) {
  const lifetime =
    typeof claims.exp === "number" && typeof claims.iat === "number" ? claims.exp - claims.iat : expiresIn || 3600;
  return now + lifetime;
}

function sessionFrom(result, previous) {
  const idToken = result.IdToken;
  const claims = jwtClaims(idToken);
  const now = Math.floor(Date.now() / 1000);
  return {
    idToken,
    accessToken: result.AccessToken,
    // A refresh answer carries no new refresh token: keep the one we have.
    refreshToken: result.RefreshToken || (previous && previous.refreshToken) || null,
    expiresAt: localExpiry(claims, result.ExpiresIn, now),
    // The team pool signs in by e-mail: cognito:username is a UUID, the address names the person.
    username: claims.email || claims["cognito:username"] || (previous && previous.username) || "",
    email: claims.email || "",
    groups: claims["cognito:groups"] || [],
  };
}

/** A Cognito user-pool client for one app client id (no secret: public clients only). */
export class Cognito {
  constructor({ endpoint, clientId }) {
    this.endpoint = endpoint;
    this.clientId = clientId;
    this.session = null;
  }

  async call(action, body) {
    let response;
    try {
      response = await fetch(this.endpoint, {
        method: "POST",
        headers: {
          "Content-Type": "application/x-amz-json-1.1",
          "X-Amz-Target": TARGET_PREFIX + action,
        },
        body: JSON.stringify(body),
        credentials: "omit",
        referrerPolicy: "no-referrer",
      });
    } catch (error) {
      throw new CognitoError("NetworkError", "Cannot reach the sign-in service. Check your connection.", 0);
    }
    let data = {};
    try {
      data = await response.json();
    } catch {
      data = {};
    }
    if (!response.ok) {
      const type = String(data.__type || data.code || "Error").split("#").pop();
      throw new CognitoError(type, data.message || data.Message || type, response.status);
    }
    return data;
  }

  // A signed-in session, or the challenge to answer: {session} | {challenge: {name, session, username, parameters}}
  outcome(data, username) {
    if (data.AuthenticationResult) {
      this.session = sessionFrom(data.AuthenticationResult, this.session);
      if (!this.session.username) this.session.username = username;
      this.save();
      return { session: this.session };
    }
    const parameters = data.ChallengeParameters || {};
    return {
      challenge: {
        name: data.ChallengeName,
        session: data.Session,
        // Cognito wants the user's internal name in challenge answers when the user signed in by alias.
        username: parameters.USER_ID_FOR_SRP || username,
        parameters,
      },
    };
  }

  /** Sign in with user name (or e-mail alias) and password. */
  async signIn(username, password) {
    const data = await this.call("InitiateAuth", {
      AuthFlow: "USER_PASSWORD_AUTH",
      ClientId: this.clientId,
      AuthParameters: { USERNAME: username, PASSWORD: password },
    });
    return this.outcome(data, username);
  }

  /** Answer NEW_PASSWORD_REQUIRED (`{newPassword}`) or SOFTWARE_TOKEN_MFA (`{code}`). */
  async respond(challenge, { newPassword, code }) {
    const responses = { USERNAME: challenge.username };
    if (challenge.name === "NEW_PASSWORD_REQUIRED") responses.NEW_PASSWORD = newPassword;
    else if (challenge.name === "SOFTWARE_TOKEN_MFA") responses.SOFTWARE_TOKEN_MFA_CODE = code;
    else throw new CognitoError("UnsupportedChallenge", `Sign-in step ${challenge.name} is not supported here.`);
    const data = await this.call("RespondToAuthChallenge", {
      ChallengeName: challenge.name,
      ClientId: this.clientId,
      Session: challenge.session,
      ChallengeResponses: responses,
    });
    return this.outcome(data, challenge.username);
  }

  /** New ID and access tokens from the refresh token; false when there is none or it was refused. */
  async refresh() {
    if (!this.session || !this.session.refreshToken) return false;
    try {
      const data = await this.call("InitiateAuth", {
        AuthFlow: "REFRESH_TOKEN_AUTH",
        ClientId: this.clientId,
        AuthParameters: { REFRESH_TOKEN: this.session.refreshToken },
      });
      if (!data.AuthenticationResult) return false;
      this.session = sessionFrom(data.AuthenticationResult, this.session);
      this.save();
      return true;
    } catch {
      return false;
    }
  }

  /** A current ID token (refreshed when about to expire), or null when the user must sign in again. */
  async idToken() {
    if (!this.session) return null;
    const now = Math.floor(Date.now() / 1000);
    if (this.session.expiresAt - EXPIRY_MARGIN_SECONDS > now) return this.session.idToken;
    return (await this.refresh()) ? this.session.idToken : null;
  }

  /** Sign out: revoke the refresh token when possible, forget every token. */
  async signOut() {
    const session = this.session;
    this.forget();
    if (session && session.refreshToken) {
      try {
        await this.call("RevokeToken", { ClientId: this.clientId, Token: session.refreshToken });
      } catch {
        // Forgetting the tokens is what matters; revocation is best effort.
      }
    }
  }

  forget() {
    this.session = null;
    try {
      sessionStorage.removeItem(STORAGE_KEY);
    } catch {
      // Storage may be disabled; memory is cleared either way.
    }
  }

  save() {
    try {
      sessionStorage.setItem(STORAGE_KEY, JSON.stringify(this.session));
    } catch {
      // Storage may be disabled: the session then lives in memory only.
    }
  }

  /** The session kept in this tab, if any. */
  restore() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "null");
      if (saved && saved.idToken) this.session = saved;
    } catch {
      this.session = null;
    }
    return this.session;
  }
}

// The user pool's password policy (infra/constructs/user_pool.py: PASSWORD_MIN_LENGTH and
// PASSWORD_CHARACTER_CLASSES; a test keeps the two, and the page's hint, equal).
export const PASSWORD_POLICY = Object.freeze({
  minLength: 12,
  classes: Object.freeze(["lowercase", "uppercase", "digits", "symbols"]),
});

// Cognito's character classes: basic Latin letters, digits, and its list of special characters.
const PASSWORD_CLASSES = {
  lowercase: { test: /[a-z]/, needs: "a lower-case letter", hint: "lower-case" },
  uppercase: { test: /[A-Z]/, needs: "an upper-case letter", hint: "upper-case" },
  digits: { test: /[0-9]/, needs: "a digit", hint: "digits" },
  symbols: { test: /[\^$*.[\]{}()?"!@#%&/\\,><':;|_~`=+\- ]/, needs: "a symbol", hint: "symbols" },
};

/** What a new password lacks under PASSWORD_POLICY (empty when it meets it). */
export function passwordProblems(password) {
  const problems = [];
  if (password.length < PASSWORD_POLICY.minLength) problems.push(`at least ${PASSWORD_POLICY.minLength} characters`);
  for (const name of PASSWORD_POLICY.classes) {
    if (!PASSWORD_CLASSES[name].test.test(password)) problems.push(PASSWORD_CLASSES[name].needs);
  }
  return problems;
}

/** The rules in one sentence, for the new-password form. */
export function passwordHint() {
  const names = PASSWORD_POLICY.classes.map((name) => PASSWORD_CLASSES[name].hint);
  const listed = names.length > 1 ? `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}` : names[0];
  return `At least ${PASSWORD_POLICY.minLength} characters, with ${listed}.`;
}

/** Words a person can act on for a Cognito error. */
export function signInMessage(error) {
  const messages = {
    NotAuthorizedException: "Wrong user name or password.",
    UserNotFoundException: "Wrong user name or password.",
    PasswordResetRequiredException: "Your password must be reset; ask your labeling admin.",
    UserNotConfirmedException: "Your account is not confirmed yet; ask your labeling admin.",
    InvalidPasswordException: "That password does not meet the password policy.",
    CodeMismatchException: "Wrong code; try the current code from your authenticator app.",
    ExpiredCodeException: "That code expired; try the current one.",
    TooManyRequestsException: "Too many attempts; wait a minute and try again.",
    LimitExceededException: "Too many attempts; wait a minute and try again.",
  };
  if (error && messages[error.code]) {
    // Cognito's own message is more precise for these (e.g. which password rule failed).
    if (error.code === "InvalidPasswordException" && error.message) return error.message;
    if (error.code === "NotAuthorizedException" && /session/i.test(error.message || "")) {
      return "The sign-in step took too long; sign in again.";
    }
    return messages[error.code];
  }
  return (error && error.message) || "Sign-in failed.";
}
