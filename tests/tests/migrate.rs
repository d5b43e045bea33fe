//! `migrate` as the deploy runs it (docs/deploy.md, "Contract for the code", point 3): one
//! run at a time, a database already ahead of the release accepted, and the login users
//! kept in step from their Secrets Manager secrets.

use parley_e2e::promises::OwnDatabase;
use parley_e2e::{connect, env_with, setting};
use shared::platform::aws::aws_sdk_secretsmanager;
use uuid::Uuid;

fn migrate_state(url: &str, extra: &[(&str, &str)]) -> migrate::State {
    let mut overrides = vec![("PARLEY_MIGRATE_DATABASE_URL", url)];
    overrides.extend_from_slice(extra);
    migrate::State::from_source(&env_with(&overrides)).expect("a valid migrate configuration")
}

/// How many migrations this release embeds.
fn known_migrations() -> usize {
    std::fs::read_dir(parley_e2e::repo().join("migrations"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".sql"))
        .count()
}

#[tokio::test]
async fn two_concurrent_runs_both_succeed_and_apply_each_migration_once() {
    // GIVEN an empty database and two migrate invocations started together
    let db = OwnDatabase::create_empty("migrate_race").await;
    let url = db.url("PARLEY_MIGRATE_DATABASE_URL");
    let (a, b) = (migrate_state(&url, &[]), migrate_state(&url, &[]));
    // WHEN both run
    let (first, second) = tokio::join!(migrate::run(&a), migrate::run(&b));
    // THEN both succeed, and between them every migration was applied exactly once
    let (first, second) = (first.expect("first run"), second.expect("second run"));
    let mut applied = [first.applied.len(), second.applied.len()];
    applied.sort();
    assert_eq!(applied, [0, known_migrations()], "one run applies everything, the other nothing");
    let row = db
        .owner()
        .await
        .query_one("SELECT count(*), count(DISTINCT version) FROM refinery_schema_history", &[])
        .await
        .unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (known_migrations() as i64, known_migrations() as i64));
    db.drop_now().await;
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_release_still_migrates() {
    // GIVEN a database a newer release has migrated further (its history names a version
    // this binary does not know)
    let db = OwnDatabase::create("migrate_ahead").await;
    let owner = db.owner().await;
    owner
        .batch_execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
             VALUES (9999, 'from_a_newer_release', '2030-01-01T00:00:00Z', '1')",
        )
        .await
        .unwrap();
    // WHEN this (older) release's migrate runs, as a rollback does
    let report = migrate::run(&migrate_state(&db.url("PARLEY_MIGRATE_DATABASE_URL"), &[])).await;
    // THEN it succeeds and changes nothing
    assert_eq!(report.expect("a database ahead of the release is accepted").applied, Vec::<String>::new());
    // AND a database ahead of it but lacking one of its own migrations is refused, rather
    // than migrated out of order
    owner.batch_execute("DELETE FROM refinery_schema_history WHERE version = 1").await.unwrap();
    let err = migrate::run(&migrate_state(&db.url("PARLEY_MIGRATE_DATABASE_URL"), &[])).await.unwrap_err();
    assert!(err.contains("V1 is not applied"), "{err}");
    db.drop_now().await;
}

async fn secrets() -> aws_sdk_secretsmanager::Client {
    shared::platform::aws::secretsmanager(&shared::platform::aws::load().await)
}

async fn login_secret(client: &aws_sdk_secretsmanager::Client, username: &str, password: &str) -> String {
    let value = serde_json::json!({ "username": username, "password": password, "engine": "postgres" });
    let out = client
        .create_secret()
        .name(format!("parley/test/db/{username}"))
        .secret_string(value.to_string())
        .send()
        .await
        .expect("moto creates the secret");
    out.arn.unwrap()
}

/// Signs in to the stack's database as `user` / `password` and asks which groups it is in.
async fn memberships(user: &str, password: &str) -> Result<(bool, bool), tokio_postgres::Error> {
    let mut config: tokio_postgres::Config = setting("PARLEY_DATABASE_URL").parse().unwrap();
    config.user(user).password(password);
    let (client, conn) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    let row = client
        .query_one("SELECT pg_has_role('parley_app', 'MEMBER'), pg_has_role('parley_service', 'MEMBER')", &[])
        .await?;
    Ok((row.get(0), row.get(1)))
}

#[tokio::test]
async fn logins_are_created_from_their_secrets_and_sign_in_with_their_role() {
    // GIVEN two login secrets, as the data stack writes them
    let client = secrets().await;
    let suffix = Uuid::now_v7().simple().to_string();
    let (api_user, service_user) = (format!("api_{suffix}"), format!("Worker-{suffix}"));
    let (api_password, service_password) = (format!("pw'; DROP {suffix}"), format!("pw-{}", Uuid::now_v7()));
    let api_arn = login_secret(&client, &api_user, &api_password).await;
    let service_arn = login_secret(&client, &service_user, &service_password).await;
    let settings = [("PARLEY_API_DB_SECRET_ARN", api_arn.as_str()), ("PARLEY_SERVICE_DB_SECRET_ARN", &service_arn)];
    let state = migrate_state(&setting("PARLEY_MIGRATE_DATABASE_URL"), &settings);
    // WHEN migrate runs
    migrate::run(&state).await.expect("migrate keeps the logins in step");
    // THEN each login signs in with its secret's password and holds exactly its group
    assert_eq!(memberships(&api_user, &api_password).await.expect("the API login signs in"), (true, false));
    assert_eq!(memberships(&service_user, &service_password).await.expect("the service login signs in"), (false, true));
    // WHEN the API password is rotated and migrate runs again
    let rotated = format!("rotated-{}", Uuid::now_v7());
    let value = serde_json::json!({ "username": api_user, "password": rotated });
    client.put_secret_value().secret_id(&api_arn).secret_string(value.to_string()).send().await.unwrap();
    migrate::run(&state).await.expect("the second run updates the password");
    // THEN the new password signs in and the old one no longer does
    assert_eq!(memberships(&api_user, &rotated).await.expect("the rotated password signs in"), (true, false));
    assert!(memberships(&api_user, &api_password).await.is_err(), "the old password still signs in");
}

#[tokio::test]
async fn a_login_secret_naming_a_superuser_fails_the_run() {
    // GIVEN a login secret that names the cluster's superuser
    let client = secrets().await;
    let arn = login_secret(&client, "postgres", &format!("hijack-{}", Uuid::now_v7())).await;
    let state = migrate_state(&setting("PARLEY_MIGRATE_DATABASE_URL"), &[("PARLEY_API_DB_SECRET_ARN", &arn)]);
    // WHEN migrate runs; THEN it fails, and the superuser's password is unchanged
    let err = migrate::run(&state).await.unwrap_err();
    assert!(err.contains("refusing"), "{err}");
    connect(&setting("PARLEY_MIGRATE_DATABASE_URL")).await;
}

#[tokio::test]
async fn an_unreadable_login_secret_fails_the_run() {
    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:parley/test/db/absent-AbCdEf";
    let state = migrate_state(&setting("PARLEY_MIGRATE_DATABASE_URL"), &[("PARLEY_SERVICE_DB_SECRET_ARN", missing)]);
    let err = migrate::run(&state).await.unwrap_err();
    assert!(err.contains("parley_service login secret"), "{err}");
}
