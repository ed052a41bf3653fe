// Signing in: the password, new-password and authenticator-code steps, and signing out.

import { passwordProblems, signInMessage } from "./auth.js";
import { loadJobs, releaseCurrent, resetTask } from "./labeling.js";
import { $, state } from "./state.js";
import { busy, fail, say, show } from "./view.js";

async function afterSignIn(outcome) {
  if (outcome.session) {
    state.challenge = null;
    $("password").value = "";
    $("new-password").value = "";
    $("new-password-again").value = "";
    $("mfa-code").value = "";
    say(`Signed in as ${outcome.session.username}.`);
    await loadJobs();
    return;
  }
  state.challenge = outcome.challenge;
  if (outcome.challenge.name === "NEW_PASSWORD_REQUIRED") {
    // For password managers: which account the new password belongs to.
    $("new-password-username").value = $("username").value.trim();
    show("new-password-view", "new-password");
    say("Choose a new password to finish signing in.");
  } else if (outcome.challenge.name === "SOFTWARE_TOKEN_MFA") {
    show("mfa-view", "mfa-code");
    say("Enter the code from your authenticator app.");
  } else {
    state.challenge = null;
    show("sign-in-view", "username");
    fail(`Sign-in step ${outcome.challenge.name} is not supported by this app; ask your labeling admin.`);
  }
}

export async function signIn(event) {
  event.preventDefault();
  if (state.busy) return;
  const username = $("username").value.trim();
  const password = $("password").value;
  if (!username || !password) {
    fail("Enter your user name and password.");
    $(username ? "password" : "username").focus();
    return;
  }
  busy(true);
  say("Signing in…");
  try {
    await afterSignIn(await state.cognito.signIn(username, password));
  } catch (error) {
    fail(signInMessage(error));
    $("password").focus();
  } finally {
    busy(false);
  }
}

export async function setNewPassword(event) {
  event.preventDefault();
  if (state.busy || !state.challenge) return;
  const password = $("new-password").value;
  const problems = passwordProblems(password);
  if (problems.length) {
    fail(`The new password needs ${problems.join(", ")}.`);
    $("new-password").focus();
    return;
  }
  if (password !== $("new-password-again").value) {
    fail("The two passwords differ.");
    $("new-password-again").focus();
    return;
  }
  busy(true);
  say("Setting your password…");
  try {
    await afterSignIn(await state.cognito.respond(state.challenge, { newPassword: password }));
  } catch (error) {
    fail(signInMessage(error));
    if (error.code === "NotAuthorizedException") show("sign-in-view", "username");
    else $("new-password").focus();
  } finally {
    busy(false);
  }
}

export async function verifyMfa(event) {
  event.preventDefault();
  if (state.busy || !state.challenge) return;
  const code = $("mfa-code").value.trim();
  if (!/^[0-9]{6}$/.test(code)) {
    fail("The code has 6 digits.");
    $("mfa-code").focus();
    return;
  }
  busy(true);
  try {
    await afterSignIn(await state.cognito.respond(state.challenge, { code }));
  } catch (error) {
    fail(signInMessage(error));
    if (error.code === "NotAuthorizedException") show("sign-in-view", "username");
    else $("mfa-code").focus();
  } finally {
    busy(false);
  }
}

export async function signOut() {
  await releaseCurrent();
  resetTask();
  await state.cognito.signOut();
  show("sign-in-view", "username");
  say("Signed out.");
}
