//! Prints the plan SQLite (the version Cairn is built with) chooses for a statement:
//! `cargo run --release -p cairn-store-sqlite --example plan -- STORE.db "SELECT …"`.
//! Parameters stay unbound (NULL), as a prepared statement's plan is chosen without them;
//! then the statement runs once, timed.
use sqlx::{Connection, Row};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(db), Some(sql)) = (args.next(), args.next()) else {
        eprintln!("usage: plan STORE.db \"SELECT …\"");
        std::process::exit(2);
    };
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{db}?mode=ro")).await?;
    let version: String = sqlx::query_scalar("SELECT sqlite_version()").fetch_one(&mut conn).await?;
    println!("SQLite {version}");
    for row in sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}"))).fetch_all(&mut conn).await? {
        let (id, parent, detail): (i64, i64, String) = (row.try_get(0)?, row.try_get(1)?, row.try_get(3)?);
        println!("{id:>4} {parent:>4}  {detail}");
    }
    // Then run it (literal values in the text; any parameters stay NULL), timed.
    let t0 = std::time::Instant::now();
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&mut conn).await?;
    println!("{} rows in {:.1} ms", rows.len(), t0.elapsed().as_secs_f64() * 1e3);
    Ok(())
}
