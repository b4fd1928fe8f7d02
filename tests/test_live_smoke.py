import requests


def test_live_server_answers_current_for_each_class(live_server):
    for token_class in ("system", "trusted", "untrusted", "api_created"):
        actor = live_server.actors.token(token_class)
        response = requests.get(live_server.url("/arvados/v1/api_client_authorizations/current"),
                                headers=actor.headers, timeout=5)
        assert response.status_code == 200, response.text
        assert response.json()["uuid"] == actor.token_uuid
        assert response.json()["api_token"] == actor.secret
