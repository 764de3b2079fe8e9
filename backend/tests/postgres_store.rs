//! The PostgreSQL driver against a real throwaway cluster: values round trip, placeholders,
//! constraint errors, transactions, the pool's limit, and connections lost and made again.
//! These run whichever database the rest of the suite uses: PostgreSQL is always there.

mod common;

use std::time::Duration;

use backend::store::db::{args, Db, DbError, Tx};
use backend::store::postgres::{self, PgDb, PgPool, POOL_SIZE};
use common::pg::{self, PgCluster};

/// A fresh database on the shared cluster, and a connection to it.
fn fresh() -> (String, PgDb) {
    let cluster = pg::shared();
    let name = cluster.fresh_db();
    let db = connect(&cluster.url(&name));
    (name, db)
}

fn connect(url: &str) -> PgDb {
    let config = postgres::config(url).expect("the test URL parses");
    PgDb::connect(config).expect("connect to the test cluster")
}

/// Rows in `t` (a table every test here creates as it needs).
fn count(db: &dyn Db, table: &str) -> i64 {
    db.query_one(&format!("SELECT COUNT(*) FROM {table}"), args![])
        .and_then(|row| row.int(0))
        .expect("count the rows")
}

#[test]
fn cluster_keeps_its_data_and_port_across_a_restart() {
    let cluster = PgCluster::start();
    cluster.create_db("kept");
    cluster.sql(
        "kept",
        "CREATE TABLE t (v BIGINT); INSERT INTO t VALUES (42)",
    );
    let port = cluster.port();
    cluster.restart();
    assert_eq!(cluster.port(), port);
    assert_eq!(cluster.sql("kept", "SELECT v FROM t"), "42");
}

#[test]
fn integers_text_bytes_booleans_and_null_round_trip() {
    let (_, db) = fresh();
    db.batch("CREATE TABLE t (n BIGINT, s TEXT, b BYTEA, f BOOLEAN)")
        .expect("create the table");
    let bytes: &[u8] = &[0, 1, 0xff, b'\'', 0];
    let texts = [
        "",
        "plain",
        "it's \"quoted\" ?1 $1",
        "é日本😀\u{7f}",
        "a\nb\tc",
    ];
    for (i, n) in [i64::MIN, -1, 0, 1, i64::MAX].into_iter().enumerate() {
        db.execute(
            "INSERT INTO t (n, s, b, f) VALUES (?1, ?2, ?3, ?4)",
            args![n, texts[i], bytes, i % 2 == 0],
        )
        .expect("insert a row");
    }
    db.execute(
        "INSERT INTO t (n, s, b, f) VALUES (?1, ?2, ?3, ?4)",
        args![None::<i64>, None::<&str>, None::<&[u8]>, None::<bool>],
    )
    .expect("insert NULLs");
    let rows = db
        .query(
            "SELECT n, s, b, f FROM t WHERE n IS NOT NULL ORDER BY n",
            args![],
        )
        .expect("read back");
    let read: Vec<(i64, String, Vec<u8>, bool)> = rows
        .iter()
        .map(|r| {
            (
                r.int(0).unwrap(),
                r.text(1).unwrap(),
                r.bytes(2).unwrap(),
                r.bool(3).unwrap(),
            )
        })
        .collect();
    let expected: Vec<(i64, String, Vec<u8>, bool)> = [i64::MIN, -1, 0, 1, i64::MAX]
        .into_iter()
        .enumerate()
        .map(|(i, n)| (n, texts[i].to_owned(), bytes.to_vec(), i % 2 == 0))
        .collect();
    assert_eq!(read, expected);
    let nulls = db
        .query_one("SELECT n, s, b, f FROM t WHERE n IS NULL", args![])
        .expect("the row of NULLs");
    assert_eq!(nulls.opt_int(0).unwrap(), None);
    assert_eq!(nulls.opt_text(1).unwrap(), None);
    assert_eq!(nulls.opt_int(3).unwrap(), None);
    assert!(nulls.int(0).is_err(), "NULL is not read as an integer");
}

#[test]
fn ids_past_the_signed_range_are_clamped_to_the_largest() {
    let (_, db) = fresh();
    let row = db
        .query_one("SELECT ?1::BIGINT", args![u64::MAX])
        .expect("select a clamped id");
    assert_eq!(row.int(0).unwrap(), i64::MAX);
    assert_eq!(row.uint(0).unwrap(), i64::MAX as u64);
}

#[test]
fn counts_and_small_integer_columns_read_as_integers() {
    let (_, db) = fresh();
    let row = db
        .query_one(
            "SELECT COUNT(*), 7::SMALLINT, 8::INTEGER, TRUE, 'x'::VARCHAR, NULL::TEXT",
            args![],
        )
        .expect("select");
    assert_eq!(row.int(0).unwrap(), 1);
    assert_eq!(row.int(1).unwrap(), 7);
    assert_eq!(row.int(2).unwrap(), 8);
    assert!(row.bool(3).unwrap());
    assert_eq!(row.text(4).unwrap(), "x");
    assert_eq!(row.opt_text(5).unwrap(), None);
}

#[test]
fn placeholders_may_come_out_of_order_and_repeat() {
    let (_, db) = fresh();
    db.batch("CREATE TABLE t (a BIGINT, b TEXT, c BIGINT)")
        .expect("create the table");
    db.execute(
        "INSERT INTO t (c, b, a) VALUES (?3, ?2, ?1)",
        args![1_i64, "two", 3_i64],
    )
    .expect("insert out of order");
    let row = db
        .query_one(
            "SELECT a, b, c FROM t WHERE a = ?2 AND c = ?1 AND b = ?3 AND a < ?1",
            args![3_i64, 1_i64, "two"],
        )
        .expect("the row");
    assert_eq!(
        (
            row.int(0).unwrap(),
            row.text(1).unwrap(),
            row.int(2).unwrap()
        ),
        (1, "two".to_owned(), 3)
    );
    let quoted = db
        .query_one("SELECT '?1', ?1::TEXT", args!["given"])
        .expect("a literal that looks like a placeholder");
    assert_eq!(quoted.text(0).unwrap(), "?1");
    assert_eq!(quoted.text(1).unwrap(), "given");
}

#[test]
fn unique_violations_are_recognized_and_other_errors_are_not() {
    let (_, db) = fresh();
    db.batch("CREATE TABLE t (k TEXT PRIMARY KEY, v BIGINT NOT NULL)")
        .expect("create the table");
    db.execute("INSERT INTO t (k, v) VALUES (?1, 1)", args!["a"])
        .expect("the first row");
    let twice = db
        .execute("INSERT INTO t (k, v) VALUES (?1, 2)", args!["a"])
        .expect_err("the same key twice is refused");
    assert!(twice.is_unique_violation(), "{twice}");
    let null = db
        .execute("INSERT INTO t (k, v) VALUES (?1, NULL)", args!["b"])
        .expect_err("NULL is refused");
    assert!(!null.is_unique_violation(), "{null}");
    let skipped = db
        .execute(
            "INSERT INTO t (k, v) VALUES (?1, 3) ON CONFLICT DO NOTHING",
            args!["a"],
        )
        .expect("ON CONFLICT DO NOTHING");
    assert_eq!(skipped, 0);
    assert_eq!(count(&db, "t"), 1);
}

#[test]
fn a_transaction_dropped_without_commit_is_rolled_back() {
    let (_, db) = fresh();
    db.batch("CREATE TABLE t (v BIGINT)")
        .expect("create the table");
    {
        let tx = Tx::begin(&db).expect("begin");
        tx.execute("INSERT INTO t (v) VALUES (1)", args![])
            .expect("insert inside");
        assert_eq!(count(&tx, "t"), 1, "the transaction sees its own row");
    }
    assert_eq!(
        count(&db, "t"),
        0,
        "nothing of the dropped transaction stays"
    );
    let tx = Tx::begin(&db).expect("begin again on the same connection");
    tx.execute("INSERT INTO t (v) VALUES (2)", args![])
        .expect("insert");
    tx.commit().expect("commit");
    assert_eq!(count(&db, "t"), 1);
}

#[test]
fn the_pool_hands_out_at_most_its_size_and_a_returned_connection_goes_to_a_waiter() {
    let cluster = pg::shared();
    let name = cluster.fresh_db();
    let pool = PgPool::connect(&cluster.url(&name)).expect("connect the pool");
    let mut held = Vec::new();
    for _ in 0..POOL_SIZE {
        let conn = pool.get().expect("a connection within the limit");
        conn.query_one("SELECT 1", args![]).expect("it works");
        held.push(conn);
    }
    assert_eq!(pool.usage(), (POOL_SIZE, 0));
    let sessions = cluster.sql(
        "postgres",
        &format!("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = '{name}'"),
    );
    assert_eq!(
        sessions,
        POOL_SIZE.to_string(),
        "one session per connection"
    );
    let over = pool
        .get()
        .err()
        .expect("one more than the limit is refused");
    assert!(matches!(over, DbError::Unreachable(_)), "{over}");
    let waiter = {
        let pool = pool.clone();
        std::thread::spawn(move || {
            let conn = pool.get()?;
            conn.query_one("SELECT 2", args![])?.int(0)
        })
    };
    // The waiter may or may not be waiting yet; either way it gets the returned one.
    std::thread::sleep(Duration::from_millis(50));
    held.pop();
    let got = waiter.join().expect("the waiter does not panic");
    assert_eq!(got.expect("the waiter gets a connection"), 2);
    drop(held);
    assert_eq!(pool.usage(), (0, POOL_SIZE));
}

#[test]
fn the_schema_is_migrated_once_and_again_is_a_no_op() {
    let cluster = pg::shared();
    let name = cluster.fresh_db();
    let url = cluster.url(&name);
    PgPool::connect(&url).expect("the first start migrates");
    let version = cluster.sql(&name, "SELECT version FROM schema_version");
    PgPool::connect(&url).expect("the second start finds it done");
    assert_eq!(
        cluster.sql(&name, "SELECT version FROM schema_version"),
        version
    );
    assert_eq!(
        cluster.sql(&name, "SELECT COUNT(*) FROM schema_version"),
        "1"
    );
    assert_eq!(
        cluster.sql(&name, "SELECT slug FROM rooms WHERE id = 1"),
        "general"
    );
}
