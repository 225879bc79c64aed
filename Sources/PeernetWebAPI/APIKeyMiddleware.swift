import Foundation
import Hummingbird

/// The reference's authentication: the `x-api-key` header must carry the configured key
/// (a UUID); /file/read and /file/view also take it as `k=` in the query (players cannot set
/// headers). Anything else: 401 with an empty body. Not installed for the null key.
struct APIKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    let key: UUID
    static var pathsWithKeyInQuery: Set<String> { ["/file/read", "/file/view"] }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var given = request.headers.first { $0.name.canonicalName == "x-api-key" }.flatMap { UUID(uuidString: $0.value) }
        if given == nil, Self.pathsWithKeyInQuery.contains(request.uri.path) {
            given = request.uri.queryParameters["k"].flatMap { UUID(uuidString: String($0)) }
        }
        guard given == key else { return Response(status: .unauthorized) }
        return try await next(request, context)
    }
}
