//! Issue 13: a method a path does not have is a 405 naming the ones it does (`Allow`), as
//! the OpenAPI document says; a path that does not exist stays a 404.

use parley_e2e::*;

#[tokio::test]
async fn a_method_a_path_does_not_have_is_a_405_with_allow() {
    // GIVEN paths the gateway serves; WHEN asked with a method they do not have
    for (method, path, allow) in [
        (reqwest::Method::DELETE, "/health", "GET"),
        (reqwest::Method::GET, "/v1/sessions/anonymous", "POST"),
        (reqwest::Method::PUT, "/v1/cart/items/0192a9d0-0000-7000-8000-000000000000", "DELETE"),
        (reqwest::Method::POST, "/openapi.yaml", "GET"),
    ] {
        let reply = send(client().request(method.clone(), format!("{}{path}", base_url()))).await;
        // THEN 405, and Allow lists what the path does accept
        reply.assert_problem(405);
        assert_eq!(reply.header("allow"), allow, "{method} {path}");
    }
    // AND an unknown path is still a 404
    get("/v1/nothing-here", &[]).await.assert_problem(404);
}
