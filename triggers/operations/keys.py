"""GET /v1/key: the calling key's tenant, id and scopes, from the token info the authenticator gave Connexion."""

from triggers.http.responses import json_response


class Keys:
    async def get_key(self, user: str, token_info: dict):
        return json_response({"tenant": user, "key_id": token_info["key_id"], "scopes": list(token_info["scopes"])})
