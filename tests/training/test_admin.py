"""Router versions in the Django admin: promotion and rollback in one click."""
import pytest

from training.models import RouterVersion

ACTIVE = RouterVersion.Status.ACTIVE


@pytest.mark.django_db(transaction=True)
def test_admin_promotes_and_rolls_back_in_one_click(admin_client):
    first, second = RouterVersion.objects.create(kind="mf"), RouterVersion.objects.create(kind="mf")
    url = "/admin/training/routerversion/"
    for version in (first, second):
        response = admin_client.post(url, {"action": "promote", "_selected_action": [version.pk]}, follow=True)
        assert response.status_code == 200 and f"v{version.pk}" in response.content.decode()
    assert RouterVersion.objects.get(status=ACTIVE).pk == second.pk
    admin_client.post(url, {"action": "roll_back", "_selected_action": [second.pk]}, follow=True)
    assert RouterVersion.objects.get(status=ACTIVE).pk == first.pk
    response = admin_client.post(url, {"action": "roll_back", "_selected_action": [first.pk]}, follow=True)
    assert "nothing to roll back to" in response.content.decode()
    assert RouterVersion.objects.get(status=ACTIVE).pk == first.pk
    from routerhub.audit.models import AuditEvent  # the admin's changes are audited as the console's

    assert list(AuditEvent.objects.order_by("id").values_list("action", flat=True)) == [
        "version_promoted", "version_promoted", "version_rolled_back"]
