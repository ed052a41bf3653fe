// The labeling API (relative URLs `api/...`), authenticated with the Cognito ID token.

/** An API error answer: `status` (HTTP), `code` (the service's error code) and a message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

/** The user must sign in again (no token, refresh refused, or the API still answers 401). */
export class SignInRequired extends Error {
  constructor() {
    super("Your session ended; sign in again.");
    this.name = "SignInRequired";
  }
}

export class LabelingApi {
  /** `cognito` is an auth.js Cognito (idToken(), refresh()). */
  constructor(cognito) {
    this.cognito = cognito;
  }

  async request(method, path, body) {
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const token = await this.cognito.idToken();
      if (!token) throw new SignInRequired();
      let response;
      try {
        response = await fetch(`api/${path}`, {
          method,
          headers: {
            Authorization: token,
            ...(body === undefined ? {} : { "Content-Type": "application/json" }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          cache: "no-store",
          credentials: "omit",
        });
      } catch {
        throw new ApiError(0, "NetworkError", "Cannot reach the labeling service. Check your connection.");
      }
      if (response.status === 401) {
        // The token was refused (expired, revoked): refresh once, then the user signs in again.
        if (attempt === 0 && (await this.cognito.refresh())) continue;
        throw new SignInRequired();
      }
      let data = null;
      try {
        data = await response.json();
      } catch {
        data = null;
      }
      if (!response.ok) {
        const code = (data && (data.error || data.code)) || `HTTP${response.status}`;
        const message = (data && (data.message || data.Message)) || `The labeling service answered ${response.status}.`;
        throw new ApiError(response.status, code, message);
      }
      return data;
    }
    throw new SignInRequired();
  }

  jobs() {
    return this.request("GET", "jobs");
  }

  lease(job) {
    return this.request("POST", `jobs/${encodeURIComponent(job)}/lease`, {});
  }

  answer(job, index, body) {
    return this.request("POST", `jobs/${encodeURIComponent(job)}/tasks/${index}/answer`, body);
  }

  release(job, index, leaseId, skip = false) {
    return this.request("POST", `jobs/${encodeURIComponent(job)}/tasks/${index}/release`, { lease_id: leaseId, skip });
  }

  progress(job) {
    return this.request("GET", `jobs/${encodeURIComponent(job)}/progress`);
  }

  // The review stage (reviewers only): the next label to review, and a decision on it.
  leaseReview(job) {
    return this.request("POST", `jobs/${encodeURIComponent(job)}/review/lease`, {});
  }

  decide(job, index, body) {
    return this.request("POST", `jobs/${encodeURIComponent(job)}/review/${index}/decide`, body);
  }
}
