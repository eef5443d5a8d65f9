"""Many clients at once: every write lands exactly once, identifiers stay unique, units stay apart."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.emulator.conftest import Api, order

THREADS = 16


def test_concurrent_batches_of_distinct_customers(emulator):
    def post(worker: int) -> list[int]:
        client = Api(emulator.url, emulator.api_key)
        statuses = []
        for batch in range(10):
            data = [{"email": f"w{worker}-b{batch}-{i}@example.com"} for i in range(20)]
            statuses.append(client.customers(*data).status_code)
        return statuses

    with ThreadPoolExecutor(THREADS) as pool:
        statuses = [s for result in pool.map(post, range(THREADS)) for s in result]
    assert set(statuses) == {201}
    customers = emulator.store(emulator.api_key).customers
    assert len(customers) == THREADS * 10 * 20
    assert sorted(c["id"] for c in customers) == list(range(1, len(customers) + 1))
    assert len({c["email"] for c in customers}) == len(customers)
    counters = emulator.store(emulator.api_key).counters
    assert counters["customers_created"] == len(customers)
    assert counters["requests"] == THREADS * 10
    assert len(emulator.requests) == THREADS * 10


def test_concurrent_upserts_of_the_same_customers_never_duplicate(emulator):
    shared = [{"email": f"shared{i}@example.com", "firstName": "x"} for i in range(25)]

    def post(worker: int) -> None:
        client = Api(emulator.url, emulator.api_key)
        for _ in range(5):
            assert client.customers(*[{**c, "lastName": f"w{worker}"} for c in shared]).status_code == 201

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(post, range(THREADS)))
    unit = emulator.store(emulator.api_key)
    assert len(unit.customers) == 25
    assert unit.counters["customers_created"] == 25
    assert unit.counters["customers_updated"] == THREADS * 5 * 25 - 25


def test_concurrent_add_mode_creates_each_customer_once(emulator):
    def post(worker: int) -> int:
        return (
            Api(emulator.url, emulator.api_key)
            .customers({"email": "race@example.com"}, mode="Add")
            .status_code
        )

    with ThreadPoolExecutor(THREADS) as pool:
        statuses = list(pool.map(post, range(THREADS)))
    assert sorted(statuses) == [201] + [400] * (THREADS - 1)
    assert len(emulator.store(emulator.api_key).customers) == 1


def test_concurrent_orders_events_and_status_changes_in_two_units(emulator):
    keys = emulator.api_keys

    def work(worker: int) -> None:
        client = Api(emulator.url, keys[worker % 2])
        for n in range(5):
            order_id = f"w{worker}-{n}"
            assert client.orders(order(order_id)).status_code == 201
            assert (
                client.put("/orders/status", {"orderId": order_id, "orderStatus": "completed"}).status_code
                == 200
            )
            body = {"customEventId": worker, "customerCrmId": order_id}
            assert client.post("/scenariocustomevents", body).status_code == 201

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(work, range(THREADS)))
    for parity, key in enumerate(keys):
        unit = emulator.store(key)
        workers = [w for w in range(THREADS) if w % 2 == parity]
        assert {o["id"] for o in unit.orders} == {f"w{w}-{n}" for w in workers for n in range(5)}
        assert {o["status"] for o in unit.orders} == {"completed"}
        assert len(unit.events) == len(workers) * 5
        assert {e["customEventId"] for e in unit.events} == set(workers)


def test_concurrent_reads_during_delayed_writes(emulator):
    emulator.switches.visibility_delay_s = 0.001
    Api(emulator.url, emulator.api_key).customers({"email": "hot@example.com", "firstName": "v0"})

    def write(worker: int) -> set[int]:
        client = Api(emulator.url, emulator.api_key)
        return {
            client.customers({"email": "hot@example.com", "firstName": f"v{worker}-{n}"}).status_code
            for n in range(30)
        }

    def read(worker: int) -> set[int]:
        client = Api(emulator.url, emulator.api_key)
        return {client.get("/customers/email/hot%40example.com").status_code for _ in range(30)}

    with ThreadPoolExecutor(THREADS) as pool:
        writes = [pool.submit(write, w) for w in range(THREADS // 2)]
        reads = [pool.submit(read, w) for w in range(THREADS // 2)]
        assert set().union(*(f.result() for f in writes)) == {201}
        assert set().union(*(f.result() for f in reads)) <= {200, 404}
    assert {r.status for r in emulator.requests} <= {200, 201, 404}
