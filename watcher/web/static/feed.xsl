<?xml version="1.0" encoding="utf-8"?>
<!-- A feed opened in a browser (issue 25): the Atom document shown as a page, with each entry's
     title a link to its page and its date in words, in the feed's language (xml:lang fr or en).
     No script; feed readers ignore this sheet and read the Atom document as it is. -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
  xmlns:atom="http://www.w3.org/2005/Atom" exclude-result-prefixes="atom">
  <xsl:output method="html" encoding="utf-8" indent="yes"
    doctype-system="about:legacy-compat"/>

  <xsl:variable name="en" select="starts-with(/atom:feed/@xml:lang, 'en')"/>

  <xsl:template match="/atom:feed">
    <html>
      <xsl:attribute name="lang"><xsl:choose><xsl:when test="$en">en</xsl:when><xsl:otherwise>fr</xsl:otherwise></xsl:choose></xsl:attribute>
      <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title><xsl:value-of select="atom:title"/></title>
        <link rel="stylesheet" href="/static/style.css"/>
      </head>
      <body>
        <main class="wrap feed-page">
          <h1><xsl:value-of select="atom:title"/></h1>
          <p class="notice-banner">
            <xsl:choose>
              <xsl:when test="$en">This is a feed: copy this page's address into a feed reader (Thunderbird, Feeder, Inoreader…) to receive every new notice. </xsl:when>
              <xsl:otherwise>Ceci est un flux : copiez l'adresse de cette page dans un lecteur de flux (Thunderbird, Feeder, Inoreader…) pour recevoir chaque nouvel avis. </xsl:otherwise>
            </xsl:choose>
            <a href="/feeds">
              <xsl:choose>
                <xsl:when test="$en">How to follow a feed</xsl:when>
                <xsl:otherwise>Mode d'emploi des flux</xsl:otherwise>
              </xsl:choose>
            </a>
            <xsl:text> · </xsl:text>
            <a href="{atom:link[@rel='alternate']/@href}">
              <xsl:choose>
                <xsl:when test="$en">The site</xsl:when>
                <xsl:otherwise>Le site</xsl:otherwise>
              </xsl:choose>
            </a>
          </p>
          <xsl:choose>
            <xsl:when test="atom:entry">
              <ol class="items feed-entries">
                <xsl:apply-templates select="atom:entry"/>
              </ol>
            </xsl:when>
            <xsl:otherwise>
              <p class="empty">
                <xsl:choose>
                  <xsl:when test="$en">Nothing in this feed yet.</xsl:when>
                  <xsl:otherwise>Rien dans ce flux pour l'instant.</xsl:otherwise>
                </xsl:choose>
              </p>
            </xsl:otherwise>
          </xsl:choose>
        </main>
      </body>
    </html>
  </xsl:template>

  <xsl:template match="atom:entry">
    <xsl:variable name="page" select="atom:link[@rel='related']/@href"/>
    <xsl:variable name="portal" select="atom:link[@rel='alternate']/@href"/>
    <li class="item feed-entry">
      <h2>
        <a>
          <xsl:attribute name="href">
            <xsl:choose>
              <xsl:when test="$page"><xsl:value-of select="$page"/></xsl:when>
              <xsl:otherwise><xsl:value-of select="$portal"/></xsl:otherwise>
            </xsl:choose>
          </xsl:attribute>
          <xsl:value-of select="atom:title"/>
        </a>
      </h2>
      <p>
        <time datetime="{atom:updated}">
          <xsl:call-template name="date">
            <xsl:with-param name="when" select="atom:updated"/>
          </xsl:call-template>
        </time>
        <xsl:if test="$page and $portal">
          <xsl:text> · </xsl:text>
          <a href="{$portal}" rel="noopener noreferrer external">
            <xsl:choose>
              <xsl:when test="$en">On the portal</xsl:when>
              <xsl:otherwise>Sur le portail</xsl:otherwise>
            </xsl:choose>
          </a>
        </xsl:if>
      </p>
    </li>
  </xsl:template>

  <!-- 2026-12-05T08:00:00+00:00 → « 5 décembre 2026 à 08:00 (UTC) » / "5 December 2026, 08:00 (UTC)":
       the entries' times are written in UTC. -->
  <xsl:template name="date">
    <xsl:param name="when"/>
    <xsl:value-of select="number(substring($when, 9, 2))"/>
    <xsl:text> </xsl:text>
    <xsl:choose>
      <xsl:when test="$en">
        <xsl:value-of select="substring-before(substring-after('|01:January|02:February|03:March|04:April|05:May|06:June|07:July|08:August|09:September|10:October|11:November|12:December|', concat('|', substring($when, 6, 2), ':')), '|')"/>
      </xsl:when>
      <xsl:otherwise>
        <xsl:value-of select="substring-before(substring-after('|01:janvier|02:février|03:mars|04:avril|05:mai|06:juin|07:juillet|08:août|09:septembre|10:octobre|11:novembre|12:décembre|', concat('|', substring($when, 6, 2), ':')), '|')"/>
      </xsl:otherwise>
    </xsl:choose>
    <xsl:text> </xsl:text>
    <xsl:value-of select="substring($when, 1, 4)"/>
    <xsl:choose>
      <xsl:when test="$en">, </xsl:when>
      <xsl:otherwise> à </xsl:otherwise>
    </xsl:choose>
    <xsl:value-of select="substring($when, 12, 5)"/>
    <xsl:text> (UTC)</xsl:text>
  </xsl:template>
</xsl:stylesheet>
