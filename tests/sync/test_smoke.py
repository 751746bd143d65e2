from tests.sync.helpers import check_invariant, sync_until_quiet, write_passages


def test_enrolled_kiosk_pushes_everything_once(office, tmp_path):
    store, service = office.add_kiosk(tmp_path / "k1")
    write_passages(store, 1234)
    result = sync_until_quiet(service)
    assert result.pushed == 1234
    check_invariant(store, office.engine)
    again = service.run_once()
    assert again.pushed == 0 and again.remaining == 0
