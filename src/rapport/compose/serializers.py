"""Validation of the API's and pages' writes: templates and messages to send."""

from __future__ import annotations

from rest_framework import serializers

from rapport.core.serializers import RejectUnknownFields


class TemplateSerializer(RejectUnknownFields, serializers.Serializer):
    name = serializers.CharField(max_length=150)
    subject = serializers.CharField(max_length=500)
    body = serializers.CharField(max_length=50_000, help_text="Markdown with merge fields: {{ person.first_name }}.")
    shared = serializers.BooleanField(
        default=False, help_text="The organisation's template (administrators) rather than your own."
    )


class SendSerializer(RejectUnknownFields, serializers.Serializer):
    to = serializers.ListField(child=serializers.CharField(max_length=320), min_length=1, max_length=50)
    cc = serializers.ListField(child=serializers.CharField(max_length=320), required=False, max_length=50)
    bcc = serializers.ListField(child=serializers.CharField(max_length=320), required=False, max_length=50)
    subject = serializers.CharField(max_length=900, required=False, allow_blank=True)
    body = serializers.CharField(
        max_length=200_000, required=False, allow_blank=True, help_text="Markdown (sanitised HTML is sent)."
    )
    template = serializers.IntegerField(required=False, allow_null=True, help_text="Fills subject and body.")
    record_type = serializers.ChoiceField(choices=["people", "companies", "deals"], required=False)
    record_id = serializers.IntegerField(required=False, min_value=1)
    mailbox = serializers.IntegerField(
        required=False, allow_null=True, help_text="Send through this mailbox; none: the organisation's server."
    )
    in_reply_to = serializers.IntegerField(required=False, allow_null=True, help_text="A mail message's id.")
    send_at = serializers.DateTimeField(required=False, allow_null=True)
    tracking = serializers.BooleanField(default=False)
