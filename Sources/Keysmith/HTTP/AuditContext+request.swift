extension KeysmithRequestContext {
    /// The audit log's view of this request: the calling key, its client address (through trusted
    /// proxies, as `BearerAuthenticator` read it), its user agent and the request's id.
    func auditContext() throws -> AuditContext {
        guard let identity else { throw APIError.unauthorized }
        return AuditContext(actor: identity.key.key.id, ip: identity.use.ip, userAgent: identity.use.userAgent, requestID: requestID)
    }
}
