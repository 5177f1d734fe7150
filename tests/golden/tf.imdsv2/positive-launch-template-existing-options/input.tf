resource "aws_launch_template" "lt" {
  name_prefix = "lt"
  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "optional"
  }
}
