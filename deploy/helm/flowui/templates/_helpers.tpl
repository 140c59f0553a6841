{{- define "flowui.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "flowui.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "flowui.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end -}}

{{- define "flowui.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The Secret the pods read: the one named by the user, else the chart's. */}}
{{- define "flowui.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "flowui.fullname" .)) -}}
{{- end -}}

{{- define "flowui.claimName" -}}
{{- .Values.sharedVolume.existingClaim | default .Values.sharedVolume.claimName -}}
{{- end -}}

{{- define "flowui.migrationsJob" -}}
{{- if and .Values.migrations.enabled .Values.database.external -}}true{{- end -}}
{{- end -}}

{{/* The settings of the server and of the migrations Job; secrets only as references. */}}
{{- define "flowui.env" -}}
- name: FLOWUI_PROJECT_DIR
  value: {{ .Values.server.projectDir | quote }}
- name: FLOWUI_DEPLOY_MODE
  value: {{ ternary "local" "k8s" .Values.airflow.allInOne.enabled }}  {{- /* local: `flowui up` runs Airflow */}}
- name: VOLUME_MOUNT_PATH_HOST
  value: {{ .Values.sharedVolume.mountPath | quote }}
- name: FLOWUI_ADMIN_EMAIL
  value: {{ .Values.server.adminEmail | quote }}
- name: FLOWUI_ALLOW_REGISTRATION
  value: {{ .Values.server.allowRegistration | quote }}
- name: FLOWUI_DEFAULT_RUNTIME
  value: {{ .Values.server.defaultRuntime | quote }}
- name: FLOWUI_REPOSITORY_IMPORTERS
  value: {{ .Values.server.repositoryImporters | quote }}
- name: FLOWUI_REPOSITORY_SOURCES
  value: {{ join "," .Values.server.repositorySources | quote }}
- name: FLOWUI_SANDBOX
  value: {{ .Values.server.sandbox | quote }}
- name: FLOWUI_KUBERNETES_NAMESPACE
  value: {{ .Values.kubernetesRuntime.rbac.namespace | default .Release.Namespace | quote }}
- name: FLOWUI_KUBERNETES_VOLUME_CLAIM
  value: {{ include "flowui.claimName" . | quote }}
{{- with (and (not .Values.airflow.allInOne.enabled) .Values.airflow.url) }}
- name: FLOWUI_AIRFLOW_URL
  value: {{ . | quote }}
- name: FLOWUI_AIRFLOW_USERNAME
  value: {{ $.Values.airflow.username | quote }}
{{- end }}
- name: FLOWUI_SECRET_KEY
  valueFrom:
    secretKeyRef: {name: {{ include "flowui.secretName" . }}, key: FLOWUI_SECRET_KEY}
- name: FLOWUI_ADMIN_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ include "flowui.secretName" . }}, key: FLOWUI_ADMIN_PASSWORD}
{{- if .Values.database.external }}
- name: FLOWUI_DATABASE_URL
  valueFrom:
    secretKeyRef: {name: {{ include "flowui.secretName" . }}, key: FLOWUI_DATABASE_URL}
{{- end }}
- name: FLOWUI_AIRFLOW_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ include "flowui.secretName" . }}, key: FLOWUI_AIRFLOW_PASSWORD, optional: true}
- name: FLOWUI_INTERNAL_TOKEN
  valueFrom:
    secretKeyRef: {name: {{ include "flowui.secretName" . }}, key: FLOWUI_INTERNAL_TOKEN, optional: true}
{{- with .Values.server.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}
