"""The login pages' HTML and Content-Security-Policy, without a server."""

import falcon

from authserver.login_pages import Application, LoginPages, content_security_policy, render


def test_every_value_is_escaped_unless_it_is_a_rendered_template():
    page = render("message.html", heading="<b>&", message='"x"', message_class="a\" onclick=\"b", role="<i>")
    assert "<b>" not in page and "&lt;b&gt;&amp;" in page and "&quot;x&quot;" in page
    assert 'class="a&quot; onclick=&quot;b"' in page and "&lt;i&gt;" in page


def test_form_action_names_the_application_or_only_its_scheme_for_ipv6():
    assert Application("a", "https://app.test:8443", False).form_action_source == "https://app.test:8443"
    assert Application("a", "http://[::1]:8080", False).form_action_source == "http:"
    assert "form-action 'self' http:;" in content_security_policy("http:")
    assert "form-action 'none';" in content_security_policy()


def test_login_form_sets_its_own_policy():
    resp = falcon.Response()
    LoginPages().login_form(resp, falcon.HTTP_200, application=Application("App", "https://app.test", True),
                            return_to="https://app.test/", csrf_token="t" * 43)
    assert "form-action 'self' https://app.test;" in resp.get_header("Content-Security-Policy")
    assert "Trusted application" in resp.text and 'value="https://app.test/"' in resp.text
